// Large sites keep the related index between full builds (storage/related-base.ts): ticks rank
// against it plus an overlay of what changed since, and build it again only past the overlay's
// bound or when it cannot be read. Forced here on the fixture site (incrementalAbove: 2).
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { type RefreshOptions, runRefresh } from '../../src/jobs/refresh'
import {
  buildIndex,
  type DocVector,
  type RelatedIndex,
  rankRelated,
  updateIndex,
} from '../../src/related'
import type { BaseMeta } from '../../src/related/base-index'
import { putTombstone } from '../../src/storage/articles'
import type { RelatedList } from '../../src/storage/indexes'
import { ensureCorpus, loadJobState } from '../../src/storage/job-state'
import { keys } from '../../src/storage/keys'
import { baseValues } from '../../src/storage/related-base'
import { droneReports, FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { kvFailing, publish } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'
const NOW = new Date('2025-06-01T00:00:00Z')
const EXTRA = droneReports()
const ADDED = {
  ...fixture('prisoner-exchange-agreed'),
  slug: 'second-prisoner-exchange',
  title: 'A second prisoner exchange between Ukraine and Russia',
  publishedAt: '2025-05-20T09:00:00Z',
}

function refresh(extra: Partial<RefreshOptions> = {}, kv: KVNamespace = env.KV) {
  return runRefresh(kv, {
    now: NOW,
    site: { ...readSiteConfig(env), relatedCount: 3 },
    writeBudget: 1000,
    verifyPerTick: 1,
    incrementalAbove: 2,
    ...extra,
  })
}

async function settle(extra: Partial<RefreshOptions> = {}) {
  for (let n = 1; n <= 30; n++) if ((await refresh(extra)).pending === 0) return
  throw new Error('refresh did not settle')
}

async function meta(): Promise<BaseMeta> {
  return JSON.parse((await env.KV.get(keys.relatedMeta)) as string) as BaseMeta
}

async function overlaySlugs(): Promise<string[]> {
  const text = await env.KV.get(keys.relatedOverlay)
  return Object.keys((JSON.parse(text as string) as { docs: object }).docs).sort()
}

async function related(slug: string): Promise<string[]> {
  const text = await env.KV.get(keys.related(slug))
  return text ? (JSON.parse(text) as RelatedList).items.map((i) => i.slug) : []
}

/** Every stored list of `vectors` holds what `index` ranks for it, scores as stored. */
async function expectRankings(index: RelatedIndex, vectors: DocVector[]): Promise<void> {
  for (const v of vectors) {
    const stored = JSON.parse((await env.KV.get(keys.related(v.slug))) as string) as RelatedList
    const expected = rankRelated(index, v.slug)
    expect(
      stored.items.map((i) => i.slug),
      v.slug,
    ).toEqual(expected.map((r) => r.slug))
    expect(stored.scores, v.slug).toEqual(expected.map((r) => Number(r.score.toPrecision(8))))
  }
}

async function storedKeys(): Promise<string[]> {
  return (await env.KV.list({ prefix: keys.relatedGensPrefix })).keys.map((k) => k.name)
}

describe('the stored related index', () => {
  beforeEach(async () => {
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    await settle()
    // The first tick found an empty catalog (a small site); the next one builds the index.
    await refresh()
  })

  it('is built once, then an addition and a removal are ranked against it through the overlay', async () => {
    const built = await meta()
    expect(built.n).toBe(FIXTURE_ARTICLES.length + EXTRA.length)
    expect(await storedKeys()).toHaveLength(baseValues(built))
    expect(await overlaySlugs()).toEqual([])

    await publish(ADDED)
    expect((await refresh()).pending).toBe(0)
    expect((await meta()).gen).toBe(built.gen)
    expect(await overlaySlugs()).toEqual([ADDED.slug])
    expect(await related(MAIN)).toContain(ADDED.slug)

    // A story of the stored build goes: it leaves every list, the index stays as built.
    await putTombstone(
      env.KV,
      { slug: 'prisoner-exchange-agreed', id: 'x' },
      '2025-05-30T00:00:00Z',
      'd1',
    )
    await putTombstone(env.KV, { slug: ADDED.slug, id: 'y' }, '2025-05-30T00:00:00Z', 'd2')
    expect((await refresh()).pending).toBe(0)
    expect((await meta()).gen).toBe(built.gen)
    expect(await overlaySlugs()).toEqual([])
    for (const a of [...FIXTURE_ARTICLES, ...EXTRA]) {
      const list = await related(a.slug)
      expect(list, a.slug).not.toContain('prisoner-exchange-agreed')
      expect(list, a.slug).not.toContain(ADDED.slug)
    }
  })

  // Only a story of the stored build goes, with no re-rank after the build to hide a list it
  // leaves: the overlay must remember which such stories the related step has found, or not.
  it("takes a removed story of the stored build out of its peers' lists", async () => {
    const gone = 'prisoner-exchange-agreed'
    const holders: string[] = []
    for (const a of [...FIXTURE_ARTICLES, ...EXTRA]) {
      if ((await related(a.slug)).includes(gone)) holders.push(a.slug)
    }
    expect(holders.length).toBeGreaterThan(0)
    await publish(ADDED)
    expect((await refresh({ rerankPerTick: 0 })).pending).toBe(0)
    await putTombstone(env.KV, { slug: gone, id: 'x' }, '2025-05-30T00:00:00Z', 'd1')
    expect((await refresh({ rerankPerTick: 0 })).pending).toBe(0)
    for (const slug of holders) expect(await related(slug), slug).not.toContain(gone)
  })

  it('ranks an addition as the stored build plus the addition would: placed lists and its own', async () => {
    await publish(ADDED)
    const report = await refresh()
    expect(report.pending).toBe(0)
    // Peers' lists that only gained the story had it placed into their stored rankings.
    expect(report.relatedPlaced).toBeGreaterThan(0)
    const state = await loadJobState(env.KV)
    await ensureCorpus(env.KV, state)
    const vectors = [...state.corpus.values()] as DocVector[]
    const index = buildIndex(
      vectors.filter((v) => v.slug !== ADDED.slug),
      { limit: 3 },
    )
    updateIndex(
      index,
      vectors.filter((v) => v.slug === ADDED.slug),
    )
    expect(vectors).toHaveLength(FIXTURE_ARTICLES.length + EXTRA.length + 1)
    for (const v of vectors) {
      expect(await related(v.slug), v.slug).toEqual(rankRelated(index, v.slug).map((r) => r.slug))
    }
  })

  // Lists a tick deferred (past its ranking cap or its write budget) are known before the next
  // tick's first pass: ranked in it, they need no second pass streaming every term part again.
  it('ranks lists deferred by the last tick in the pass that ranks the next change', async () => {
    const GONE = 'prisoner-exchange-agreed'
    const before = await loadJobState(env.KV)
    await ensureCorpus(env.KV, before)
    // The stored build's statistics stay until the next build: the gone story's vector with them.
    const built = [...before.corpus.values()] as DocVector[]
    await putTombstone(env.KV, { slug: GONE, id: 'x' }, '2025-05-30T00:00:00Z', 'd1')
    const deferring = await refresh({ maxRankPerTick: 2, rerankPerTick: 0 })
    expect(deferring.pending).toBeGreaterThan(0)
    await publish(ADDED)
    const partReads: string[] = []
    // kvFailing runs its hook before each read of the real KV; this one only counts.
    const counting = kvFailing('get', (key) => {
      if (String(key).includes(':part:')) partReads.push(String(key))
    })
    expect((await refresh({ rerankPerTick: 0 }, counting)).pending).toBe(0)
    expect(partReads).toHaveLength((await meta()).parts)
    const after = await loadJobState(env.KV)
    await ensureCorpus(env.KV, after)
    const added = after.corpus.get(ADDED.slug) as DocVector
    const index = buildIndex(built, { limit: 3 })
    updateIndex(index, [added], [GONE])
    for (const v of [...built, added]) {
      if (v.slug === GONE) continue
      expect(await related(v.slug), v.slug).toEqual(rankRelated(index, v.slug).map((r) => r.slug))
    }
  })

  // A story that joined the overlay in an earlier tick joins later ticks' indexes as a candidate
  // only: with the scale it was given then, and without the terms no query asks for.
  it('ranks against earlier overlay stories as when they joined: the same lists and scores', async () => {
    const second = {
      ...ADDED,
      slug: 'third-prisoner-exchange',
      title: 'Ukraine and Russia agree a third prisoner exchange',
      publishedAt: '2025-05-25T09:00:00Z',
    }
    await publish(ADDED)
    expect((await refresh()).pending).toBe(0)
    const first = JSON.parse((await env.KV.get(keys.relatedOverlay)) as string) as {
      docs: Record<string, { s?: number }>
    }
    expect(first.docs[ADDED.slug]?.s).toBeGreaterThan(0)
    await publish(second)
    // Every list ranked again: base stories' too, with the earlier addition among the candidates.
    expect((await refresh({ rerankPerTick: 1000, verifyPerTick: 1000 })).pending).toBe(0)
    const state = await loadJobState(env.KV)
    await ensureCorpus(env.KV, state)
    const vectors = [...state.corpus.values()] as DocVector[]
    const late = new Set([ADDED.slug, second.slug])
    const index = buildIndex(
      vectors.filter((v) => !late.has(v.slug)),
      { limit: 3 },
    )
    updateIndex(
      index,
      vectors.filter((v) => late.has(v.slug)),
    )
    expect(await related(second.slug)).toContain(ADDED.slug)
    await expectRankings(index, vectors)

    // The first addition changes: the second's list held its old version, so that list is
    // ranked again, with the second's every term (the tick's second pass).
    await publish({ ...ADDED, body: `${ADDED.body} Prisoners were exchanged at the border.` })
    expect((await refresh({ rerankPerTick: 0 })).pending).toBe(0)
    const after = await loadJobState(env.KV)
    await ensureCorpus(env.KV, after)
    const changed = after.corpus.get(ADDED.slug) as DocVector
    updateIndex(index, [changed])
    await expectRankings(index, [...vectors.filter((v) => v.slug !== ADDED.slug), changed])
  })

  it('is built again once the overlay passes its bound, and the old generation is swept', async () => {
    const first = await meta()
    await publish(ADDED)
    await refresh({ maxOverlay: 0 })
    const second = await meta()
    expect(second.gen).not.toBe(first.gen)
    expect(second.n).toBe(first.n + 1)
    expect(await overlaySlugs()).toEqual([])
    const left = await storedKeys()
    expect(left).toHaveLength(baseValues(second))
    for (const key of left) expect(key.startsWith(keys.relatedGenPrefix(second.gen))).toBe(true)
    expect(await related(MAIN)).toContain(ADDED.slug)
  })

  it('is built again when a term part or a document chunk is lost, and lists stay right', async () => {
    const first = await meta()
    await env.KV.delete(keys.relatedPart(first.gen, 0))
    await publish(ADDED)
    expect((await refresh()).pending).toBe(0)
    const second = await meta()
    expect(second.gen).not.toBe(first.gen)
    expect(await related(MAIN)).toContain(ADDED.slug)

    await env.KV.put(keys.relatedChunk(second.gen, 0), new Uint8Array([1, 2, 3]))
    const third = { ...ADDED, slug: 'third-prisoner-exchange', title: 'A third prisoner exchange' }
    await publish(third)
    expect((await refresh()).pending).toBe(0)
    expect((await meta()).gen).not.toBe(second.gen)
    expect(await related(MAIN)).toContain(ADDED.slug)
    expect(await related(third.slug)).toContain(MAIN)
  })

  it('keeps what a newcomer shares with one stored story alone, for the ticks after it joined', async () => {
    // Their only shared word is one no other story has: in the stored build it is a term of one
    // document, which a tick reads from the base once, when the newcomer joins the overlay.
    const lone = {
      ...fixture('prisoner-exchange-agreed'),
      slug: 'quillwort-keepers',
      title: 'Quillwort harbour zephyrines',
      summary: 'Brastomile fennaway quillwort.',
      body: 'Trelliform abbeystone vantral quillwort.',
      themes: [],
    }
    const newcomer = {
      ...lone,
      slug: 'quillwort-orvendal',
      title: 'Orvendal pemberlithe quillwort',
      summary: 'Ostrakine galdermoss quillwort.',
      body: 'Marrowlace tindersoft quillwort.',
    }
    await publish(lone)
    await refresh({ maxOverlay: 0 })
    const built = await meta()
    await publish(newcomer)
    expect((await refresh()).pending).toBe(0)
    expect(await related(lone.slug)).toEqual([newcomer.slug])
    const overlay = JSON.parse((await env.KV.get(keys.relatedOverlay)) as string) as {
      docs: Record<string, { r?: number[] }>
    }
    // One [hash, document, weight] triple: the shared word, at the stored story's number.
    expect(overlay.docs[newcomer.slug]?.r).toHaveLength(3)

    // A later tick ranks the stored story again from what the overlay kept.
    await env.KV.delete(keys.related(lone.slug))
    expect((await refresh({ verifyPerTick: 1000 })).pending).toBe(0)
    expect((await meta()).gen).toBe(built.gen)
    expect(await related(lone.slug)).toEqual([newcomer.slug])
  })

  it('is built again when the overlay is lost, as it cannot tell what changed since', async () => {
    await publish(ADDED)
    const before = await meta()
    await env.KV.put(keys.relatedOverlay, 'not json')
    const third = { ...ADDED, slug: 'third-prisoner-exchange', title: 'A third prisoner exchange' }
    await publish(third)
    expect((await refresh()).pending).toBe(0)
    const after = await meta()
    expect(after.gen).not.toBe(before.gen)
    expect(after.n).toBe(before.n + 2)
    expect(await overlaySlugs()).toEqual([])
    expect(await related(MAIN)).toContain(ADDED.slug)
  })
})
