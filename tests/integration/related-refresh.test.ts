// The related step of the refresh job on both of its paths: ranking every list (small sites) and
// the incremental path (threshold set low here), which ranks only what a change can reach.
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { type RefreshOptions, runRefresh } from '../../src/jobs/refresh'
import { buildIndex, rankRelated, vectorize } from '../../src/related'
import { getArticles, putTombstone } from '../../src/storage/articles'
import type { RelatedList } from '../../src/storage/indexes'
import { loadJobState } from '../../src/storage/job-state'
import { keys } from '../../src/storage/keys'
import { droneReports, FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { kvFailing, publish } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'
const NOW = new Date('2025-06-01T00:00:00Z')

const EXTRA = droneReports()

// A new story close to the fixture's prisoner exchange: it enters some lists, not all.
const secondExchange = () => ({
  ...fixture('prisoner-exchange-agreed'),
  slug: 'second-prisoner-exchange',
  title: 'A second prisoner exchange between Ukraine and Russia',
  publishedAt: '2025-05-20T09:00:00Z',
})

function refresh(mode: 'incremental' | 'full', extra: Partial<RefreshOptions> = {}) {
  const site = { ...readSiteConfig(env), relatedCount: 3 }
  return runRefresh(env.KV, {
    now: NOW,
    site,
    writeBudget: 1000,
    verifyPerTick: 1,
    incrementalAbove: mode === 'incremental' ? 2 : 1_000_000,
    ...extra,
  })
}

async function settle(mode: 'incremental' | 'full', extra: Partial<RefreshOptions> = {}) {
  for (let n = 1; n <= 30; n++) {
    const report = await refresh(mode, extra)
    if (report.pending === 0) return n
  }
  throw new Error('refresh did not settle')
}

async function storedList(slug: string): Promise<RelatedList | null> {
  const text = await env.KV.get(keys.related(slug))
  return text ? (JSON.parse(text) as RelatedList) : null
}

// What a full rebuild of the engine ranks from the articles in KV published at NOW.
async function fullRanking(): Promise<Map<string, string[]>> {
  const state = await loadJobState(env.KV)
  const live = [...state.catalog.keys()]
  const records = await getArticles(env.KV, live)
  const sources = live.flatMap((slug) => {
    const stored = records.get(slug)?.stored
    if (stored?.state !== 'live') return []
    const a = stored.article
    if (Date.parse(a.publishedAt) > NOW.getTime()) return []
    return [
      {
        slug,
        title: a.title,
        ...(a.subtitle ? { subtitle: a.subtitle } : {}),
        summary: a.summary,
        body: a.body,
        themes: a.themes.map((t) => t.slug),
        publishedAt: a.publishedAt,
      },
    ]
  })
  const config = { limit: 3 }
  const index = buildIndex(
    sources.map((s) => vectorize(s, config)),
    config,
  )
  return new Map(sources.map((s) => [s.slug, rankRelated(index, s.slug).map((r) => r.slug)]))
}

// Lists no change reached keep the corpus statistics they were ranked with until the verification
// slice (one list a tick here) comes round: on the incremental path, let it come round first.
async function expectAllListsFull(mode: 'incremental' | 'full') {
  if (mode === 'incremental') {
    // The stored index keeps the statistics of its build: build it again (an overlay of at most
    // none), then let the verification slice re-rank every list against it.
    for (let i = 0; i <= FIXTURE_ARTICLES.length + EXTRA.length + 4; i++) {
      await refresh('incremental', { maxOverlay: 0 })
    }
  }
  const expected = await fullRanking()
  for (const [slug, want] of expected) {
    expect(
      (await storedList(slug))?.items.map((i) => i.slug),
      slug,
    ).toEqual(want)
  }
}

async function holders(slug: string): Promise<string[]> {
  const out: string[] = []
  for (const a of [...FIXTURE_ARTICLES, ...EXTRA]) {
    const list = await storedList(a.slug)
    if (list?.items.some((i) => i.slug === slug)) out.push(a.slug)
  }
  return out
}

describe('the related step of runRefresh()', () => {
  for (const mode of ['full', 'incremental'] as const) {
    describe(`on the ${mode} path`, () => {
      it('puts an added story into its peers lists within one tick', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish(secondExchange())
        const report = await refresh(mode)
        expect(report.pending).toBe(0)
        expect((await storedList(MAIN))?.items.map((i) => i.slug)).toContain(
          'second-prisoner-exchange',
        )
        await expectAllListsFull(mode)
        if (mode === 'incremental') {
          expect(report.relatedRanked).toBeLessThan(FIXTURE_ARTICLES.length + EXTRA.length + 1)
          // Lists that only gained the story had it placed into their stored ranking.
          expect(report.relatedPlaced).toBeGreaterThan(0)
        } else {
          expect(report.relatedPlaced).toBe(0)
        }
      })

      it('writes only the lists an added story changes, not every list', async () => {
        // The free plan allows 1,000 writes a day: a publish must not rewrite every list because
        // the corpus statistics moved every score a little.
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        const slugs = [...FIXTURE_ARTICLES, ...EXTRA].map((a) => a.slug)
        const before = new Map<string, string>()
        for (const slug of slugs) before.set(slug, JSON.stringify((await storedList(slug))?.items))
        await publish(secondExchange())
        const report = await refresh(mode)
        expect(report.pending).toBe(0)
        let changed = 0
        for (const slug of slugs) {
          if (JSON.stringify((await storedList(slug))?.items) !== before.get(slug)) changed++
        }
        expect(changed).toBeGreaterThan(0)
        expect(changed).toBeLessThan(slugs.length)
        // The changed lists and the new story's own.
        expect(report.relatedWritten).toBe(changed + 1)
      })

      it('shows a changed headline in every list that holds the story within one tick', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        const before = await holders('prisoner-exchange-agreed')
        expect(before.length).toBeGreaterThan(0)
        await publish({ ...fixture('prisoner-exchange-agreed'), title: 'Prisoner swap confirmed' })
        await refresh(mode)
        for (const slug of before) {
          const item = (await storedList(slug))?.items.find(
            (i) => i.slug === 'prisoner-exchange-agreed',
          )
          if (item) expect(item.title, slug).toBe('Prisoner swap confirmed')
        }
        await expectAllListsFull(mode)
      })

      it('drops a removed story from every list within one tick', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        expect((await holders('prisoner-exchange-agreed')).length).toBeGreaterThan(0)
        await putTombstone(
          env.KV,
          { slug: 'prisoner-exchange-agreed', id: 'x' },
          '2025-05-30T00:00:00Z',
          'del1',
        )
        const report = await refresh(mode)
        expect(report.pending).toBe(0)
        expect(await holders('prisoner-exchange-agreed')).toEqual([])
        expect(await storedList('prisoner-exchange-agreed')).toBeNull()
        await expectAllListsFull(mode)
      })

      it('drops a story put back under embargo from every list within one tick', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        expect((await holders('prisoner-exchange-agreed')).length).toBeGreaterThan(0)
        // Still in the catalog, no longer published at the tick's time.
        await publish({
          ...fixture('prisoner-exchange-agreed'),
          publishedAt: '2030-01-01T00:00:00Z',
        })
        const report = await refresh(mode)
        expect(report.pending).toBe(0)
        expect(await holders('prisoner-exchange-agreed')).toEqual([])
        expect(await storedList('prisoner-exchange-agreed')).toBeNull()
        await expectAllListsFull(mode)
      })

      it('resumes after a tick that failed part-way, losing nothing', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish({
          ...fixture('prisoner-exchange-agreed'),
          slug: 'second-prisoner-exchange',
          title: 'A second prisoner exchange between Ukraine and Russia',
        })
        await putTombstone(env.KV, { slug: 'drone-report-1', id: 'x' }, '2025-05-30T00:00:00Z', 'd')
        let puts = 0
        const failing = kvFailing('put', () => {
          if (++puts > 2) throw new Error('simulated KV failure')
        })
        const site = { ...readSiteConfig(env), relatedCount: 3 }
        await expect(
          runRefresh(failing, {
            now: NOW,
            site,
            writeBudget: 1000,
            verifyPerTick: 1,
            incrementalAbove: mode === 'incremental' ? 2 : 1_000_000,
          }),
        ).rejects.toThrow('simulated KV failure')
        await settle(mode)
        expect(await holders('second-prisoner-exchange')).toContain(MAIN)
        expect(await holders('drone-report-1')).toEqual([])
        await expectAllListsFull(mode)
      })

      it('ranks nothing once settled, yet heals a list lost or damaged behind its back', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        // Let the verification slice come round once, so every list was ranked on this corpus.
        const total = FIXTURE_ARTICLES.length + EXTRA.length
        for (let i = 0; i <= total; i++) await refresh(mode)
        const idle = await refresh(mode)
        expect(idle.relatedRanked).toBe(0)
        expect(idle.relatedWritten).toBe(0)
        const want = (await storedList(MAIN))?.items.map((i) => i.slug)
        await env.KV.delete(keys.related(MAIN))
        await env.KV.put(keys.related('drone-report-1'), '{"version":1,"items":[]}')
        // Each comes round in the verification slice (one list a tick here) and only it is ranked.
        let ranked = 0
        for (let i = 0; i <= total; i++) ranked += (await refresh(mode)).relatedRanked
        expect(ranked).toBe(2)
        expect((await storedList(MAIN))?.items.map((i) => i.slug)).toEqual(want)
        await expectAllListsFull(mode)
      })

      it('finishes lists deferred by the write budget on the next ticks', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        for (let i = 0; i < 4; i++) {
          await publish({
            ...fixture('prisoner-exchange-agreed'),
            slug: `prisoner-update-${i}`,
            title: `Prisoner exchange update ${i} from Ukraine and Russia`,
          })
        }
        const ticks = await settle(mode, { writeBudget: 8 })
        expect(ticks).toBeGreaterThan(1)
        await expectAllListsFull(mode)
      })
    })
  }

  it('finds every list a removed story was in when the content part ran alone before', async () => {
    // One tick imports the site: no stored index yet, so the related step finds the lists a
    // removed story was in by its old vector, which the content part's fold must not drop.
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    expect((await refresh('incremental')).pending).toBe(0)
    let gone = ''
    let held: string[] = []
    for (const a of [...FIXTURE_ARTICLES, ...EXTRA]) {
      const h = await holders(a.slug)
      if (h.length > held.length) [gone, held] = [a.slug, h]
    }
    expect(held.length).toBeGreaterThanOrEqual(4)
    await putTombstone(env.KV, { slug: gone, id: 'x' }, '2025-05-30T00:00:00Z', 'del1')
    expect((await refresh('incremental', { parts: ['content'] })).removed).toBe(1)
    const related = await refresh('incremental', { parts: ['related'] })
    expect(related.relatedWritten).toBeGreaterThanOrEqual(held.length)
    expect(await holders(gone)).toEqual([])
    // Its vector goes with the related step: a later fold keeps nothing of it.
    await settle('incremental')
    expect((await loadJobState(env.KV)).corpus.has(gone)).toBe(false)
  })

  it('ranks a large first import a slice per tick without starving any list', async () => {
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    // Two lists a tick: the same first slugs must not be picked every time.
    const ticks = await settle('incremental', { maxRankPerTick: 2 })
    const total = FIXTURE_ARTICLES.length + EXTRA.length
    expect(ticks).toBeLessThanOrEqual(total)
    for (const a of [...FIXTURE_ARTICLES, ...EXTRA]) {
      expect(await storedList(a.slug), a.slug).not.toBeNull()
    }
  })

  it('keeps every list current when a site grows onto the incremental path', async () => {
    // Small sites store lists without scores or floors; the incremental path must not trust them.
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    await settle('full')
    expect((await storedList(MAIN))?.scores).toBeUndefined()
    await publish(secondExchange())
    await settle('incremental')
    expect((await storedList(MAIN))?.items.map((i) => i.slug)).toContain('second-prisoner-exchange')
    await expectAllListsFull('incremental')
    expect((await storedList(MAIN))?.scores).toHaveLength(3)
  })

  it('re-ranks every list over a few incremental ticks (the sliced full re-rank)', async () => {
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    await settle('incremental')
    // A list damaged behind the job's back heals when the slice comes round.
    await env.KV.put(keys.related(MAIN), JSON.stringify({ version: 1, source: 'x', items: [] }))
    const total = FIXTURE_ARTICLES.length + EXTRA.length
    for (let i = 0; i < total; i++) await refresh('incremental')
    await expectAllListsFull('full')
  })
})
