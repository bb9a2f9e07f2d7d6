// The refresh job run as three cron invocations: the content part (changes, story lists), the
// documents part (feeds, sitemaps: DOCUMENTS_CRON) and the related part (vectors, related lists:
// RELATED_CRON), each with its own CPU limit. On both related paths (every list ranked; the stored
// index with its overlay, threshold set low).
import { createScheduledController } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import worker from '../../src/index'
import { type RefreshOptions, type RefreshPart, runRefresh } from '../../src/jobs/refresh'
import { refreshParts } from '../../src/jobs/scheduled'
import { putTombstone } from '../../src/storage/articles'
import type { RelatedList, StoryList } from '../../src/storage/indexes'
import { loadJobState, REACHED_KEPT } from '../../src/storage/job-state'
import { CATALOG_SHARDS, keys } from '../../src/storage/keys'
import { droneReports, FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { kvFailing, publish } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'
const ADDED = 'second-prisoner-exchange'
const GONE = 'prisoner-exchange-agreed'
const NOW = new Date('2025-06-01T00:00:00Z')
const EXTRA = droneReports()
const ALL = [...FIXTURE_ARTICLES, ...EXTRA].map((a) => a.slug)

const secondExchange = () => ({
  ...fixture(GONE),
  slug: ADDED,
  title: 'A second prisoner exchange between Ukraine and Russia',
  publishedAt: '2025-05-20T09:00:00Z',
})

type Mode = 'full' | 'incremental'

function options(mode: Mode, part: RefreshPart): RefreshOptions {
  return {
    now: NOW,
    site: { ...readSiteConfig(env), relatedCount: 3 },
    writeBudget: 1000,
    verifyPerTick: 1,
    incrementalAbove: mode === 'incremental' ? 2 : 1_000_000,
    // Only the lists a change reaches are ranked: no re-rank slice after a build to hide a miss.
    rerankPerTick: 0,
    parts: [part],
  }
}

const run = (mode: Mode, part: RefreshPart) => runRefresh(env.KV, options(mode, part))

const PARTS = ['content', 'documents', 'related'] as const

/** Content, documents and related invocations until none has work left; returns the ticks run. */
async function settle(mode: Mode): Promise<number> {
  for (let n = 1; n <= 30; n++) {
    let pending = 0
    for (const part of PARTS) pending += (await run(mode, part)).pending
    if (pending === 0) return n
  }
  throw new Error('refresh did not settle')
}

async function relatedOf(slug: string): Promise<string[]> {
  const text = await env.KV.get(keys.related(slug))
  return text ? (JSON.parse(text) as RelatedList).items.map((i) => i.slug) : []
}

async function holders(slug: string): Promise<string[]> {
  const out: string[] = []
  for (const s of ALL) if ((await relatedOf(s)).includes(slug)) out.push(s)
  return out
}

async function latest(): Promise<string[]> {
  const text = await env.KV.get(keys.latest)
  return text ? (JSON.parse(text) as StoryList).items.map((i) => i.slug) : []
}

/** The items of the site's JSON Feed as stored. */
async function feed(): Promise<Array<{ url: string; title: string }>> {
  const text = await env.KV.get(keys.document('identity', '/feed.json'))
  return text ? (JSON.parse(text) as { items: Array<{ url: string; title: string }> }).items : []
}

const feedItems = async () => (await feed()).map((i) => i.url)
const inFeed = async (slug: string) => (await feedItems()).some((url) => url.endsWith(`/${slug}`))
const feedTitle = async (slug: string) =>
  (await feed()).find((i) => i.url.endsWith(`/${slug}`))?.title

/** The job's own keys as stored now. */
async function jobKeys(): Promise<Map<string, string | null>> {
  const names: string[] = [keys.jobState, keys.jobDelta]
  for (let i = 0; i < CATALOG_SHARDS; i++) names.push(keys.catalog(i), keys.corpus(i))
  const out = new Map<string, string | null>()
  for (const name of names) out.set(name, await env.KV.get(name))
  return out
}

describe('the refresh job in three invocations', () => {
  it('maps cron triggers to parts: each named trigger its own, others the rest, none all', () => {
    const relatedCron = '7,22,37,52 * * * *'
    const documentsCron = '4,19,34,49 * * * *'
    const buildCron = '10,25,40,55 * * * *'
    const all = { relatedCron, documentsCron, buildCron }
    expect(refreshParts(relatedCron, all)).toEqual(['related'])
    expect(refreshParts(documentsCron, all)).toEqual(['documents'])
    expect(refreshParts(buildCron, all)).toEqual(['build'])
    expect(refreshParts('*/15 * * * *', all)).toEqual(['content'])
    expect(refreshParts('', all)).toEqual(['content', 'related', 'build', 'documents'])
    // A part without a trigger of its own runs with the content part; the build with the related.
    const none = { relatedCron: null, documentsCron: null, buildCron: null }
    expect(refreshParts('*/15 * * * *', { ...all, documentsCron: null })).toEqual([
      'content',
      'documents',
    ])
    expect(refreshParts('*/15 * * * *', { ...all, relatedCron: null })).toEqual([
      'content',
      'related',
    ])
    expect(refreshParts(relatedCron, { ...all, buildCron: null })).toEqual(['related', 'build'])
    expect(refreshParts('*/15 * * * *', none)).toEqual(['content', 'related', 'build', 'documents'])
    expect(() => readSiteConfig({ ...env, RELATED_CRON: 'every 15 minutes' })).toThrow(
      /RELATED_CRON/,
    )
    expect(() => readSiteConfig({ ...env, DOCUMENTS_CRON: '*/15 * * *' })).toThrow(/DOCUMENTS_CRON/)
    expect(() => readSiteConfig({ ...env, DOCUMENTS_CRON: env.RELATED_CRON })).toThrow(
      /different triggers/,
    )
    expect(() => readSiteConfig({ ...env, RELATED_BUILD_CRON: env.RELATED_CRON })).toThrow(
      /RELATED_BUILD_CRON/,
    )
  })

  it('fires the parts from the Worker’s three triggers: lists, then feeds, then peers’ lists', async () => {
    expect(env.RELATED_CRON).toBeTruthy()
    expect(env.DOCUMENTS_CRON).toBeTruthy()
    await publish(...FIXTURE_ARTICLES, ...EXTRA)
    const fire = (cron: string) =>
      worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron }), env)
    await fire('*/15 * * * *')
    expect(await latest()).toHaveLength(ALL.length)
    expect(await feedItems()).toEqual([])
    expect(await relatedOf(MAIN)).toEqual([])
    await fire(env.DOCUMENTS_CRON)
    expect(await inFeed(MAIN)).toBe(true)
    expect(await relatedOf(MAIN)).toEqual([])
    await fire(env.RELATED_CRON)
    expect((await relatedOf(MAIN)).length).toBeGreaterThan(0)
  })

  it('returns at once from a documents invocation when nothing since the last can change a document', async () => {
    // Due within the News sitemap's two days of NOW: it leaves that window at 2 June 12:00.
    const recent = { ...secondExchange(), publishedAt: '2025-05-31T12:00:00Z' }
    await publish(...FIXTURE_ARTICLES, ...EXTRA, recent)
    await settle('full')
    const read: string[] = []
    const spying = kvFailing('get', (key) => {
      for (const k of Array.isArray(key) ? key : [key]) read.push(String(k))
    })
    const base = options('full', 'documents')
    const documents = (now = NOW, site = base.site) => {
      read.length = 0
      return runRefresh(spying, { ...base, now, site })
    }
    const loadedCatalog = () => read.includes(keys.catalog(0))
    const news = async () =>
      (await env.KV.get(keys.document('identity', '/news-sitemap.xml'))) ?? ''

    const before = await jobKeys()
    const idle = await documents()
    expect(idle).toMatchObject({ documentsCompared: 0, writes: 0, deletes: 0, pending: 0 })
    expect(idle.articles).toBe(ALL.length + 1)
    expect(read.sort()).toEqual([keys.jobDelta, keys.jobState, keys.status].sort())
    expect(await jobKeys()).toEqual(before)

    // A change since (the catalog's stamp moved): it runs whole and renders it, then rests again.
    await publish({ ...fixture(MAIN), title: 'Leaders talk again by phone' })
    await run('full', 'content')
    expect((await documents()).documentsWritten).toBeGreaterThan(0)
    expect(loadedCatalog()).toBe(true)
    expect(await feedTitle(MAIN)).toBe('Leaders talk again by phone')
    await documents()
    expect(loadedCatalog()).toBe(false)

    // A lost document (its gzip copy) is rendered again.
    await env.KV.delete(keys.document('gzip', '/feed.json'))
    expect((await documents()).documentsWritten).toBeGreaterThan(0)
    expect(await env.KV.get(keys.document('gzip', '/feed.json'))).not.toBeNull()

    // Other document settings: every group compared with them.
    const fewer = { ...base.site, feedItems: 2 }
    expect((await documents(NOW, fewer)).documentsWritten).toBeGreaterThan(0)
    expect(await feed()).toHaveLength(2)
    await documents(NOW, fewer)
    expect(loadedCatalog()).toBe(false)

    // Time alone: still inside the News window it rests; once the story leaves it, it runs whole.
    await documents(new Date('2025-06-02T11:00:00Z'), fewer)
    expect(loadedCatalog()).toBe(false)
    expect(await news()).toContain(`/articles/${ADDED}`)
    const left = await documents(new Date('2025-06-02T13:00:00Z'), fewer)
    expect(loadedCatalog()).toBe(true)
    expect(left.documentsWritten).toBeGreaterThan(0)
    expect(await news()).not.toContain(`/articles/${ADDED}`)
    // A month begins (its archives change with it): whole again, then at rest.
    await documents(new Date('2025-06-30T23:00:00Z'), fewer)
    expect(loadedCatalog()).toBe(false)
    await documents(new Date('2025-07-01T00:00:00Z'), fewer)
    expect(loadedCatalog()).toBe(true)
    await documents(new Date('2025-07-01T00:15:00Z'), fewer)
    expect(loadedCatalog()).toBe(false)
  })

  for (const mode of ['full', 'incremental'] as const) {
    describe(`on the ${mode} related path`, () => {
      it('lists an added story in the content part and puts it in peers’ lists in the related part', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish(secondExchange())

        const content = await run(mode, 'content')
        expect(content.changed).toBe(1)
        expect(content.vectorized).toBe(0)
        expect(content.relatedWritten + content.documentsWritten).toBe(0)
        expect(await latest()).toContain(ADDED)
        expect(await inFeed(ADDED)).toBe(false)
        expect(await holders(ADDED)).toEqual([])
        expect((await loadJobState(env.KV)).catalog.get(ADDED)?.vectorStale).toBe(true)

        // The documents part finds the changed feeds by itself (nothing is handed over).
        const documents = await run(mode, 'documents')
        expect(documents.changed + documents.vectorized).toBe(0)
        expect(documents.listsWritten + documents.relatedWritten).toBe(0)
        expect(documents.documentsWritten).toBeGreaterThan(0)
        expect(documents.pending).toBe(0)
        expect(await inFeed(ADDED)).toBe(true)
        expect(await holders(ADDED)).toEqual([])

        const related = await run(mode, 'related')
        expect(related.changed).toBe(0)
        expect(related.vectorized).toBe(1)
        expect(related.listsWritten + related.documentsWritten).toBe(0)
        expect(related.pending).toBe(0)
        expect(await relatedOf(MAIN)).toContain(ADDED)
        expect((await relatedOf(ADDED)).length).toBeGreaterThan(0)
        expect((await loadJobState(env.KV)).catalog.get(ADDED)?.vectorStale).toBeUndefined()

        // Nothing left for either part. With the default verification slices a small site's
        // idle invocations write nothing at all; a large one's rotating slices move the cursor.
        for (let pass = 0; pass < 2; pass++) {
          for (const part of PARTS) {
            const idle = await runRefresh(env.KV, {
              ...options(mode, part),
              verifyPerTick: undefined,
            })
            const derived = idle.relatedWritten + idle.listsWritten + idle.documentsWritten
            expect(idle.vectorized + derived + idle.deletes, part).toBe(0)
            if (pass === 1 && mode === 'full') expect(idle.writes, part).toBe(0)
          }
        }
      })

      it('compares only the document groups the changes since the last comparison reached', async () => {
        // A story in a theme and a month of its own: its feeds are not reached by the edits below.
        const elsewhere = {
          ...fixture(GONE),
          slug: 'count-delayed-in-local-elections',
          title: 'Count delayed in local elections',
          themes: [{ slug: 'elections', name: 'Elections' }],
          publishedAt: '2025-03-02T10:00:00Z',
        }
        await publish(...FIXTURE_ARTICLES, ...EXTRA, elsewhere)
        await run(mode, 'content')
        // Nothing compared before: every group.
        const all = await run(mode, 'documents')
        await settle(mode)
        const idle = await run(mode, 'documents')
        expect(idle.documentsWritten).toBe(0)
        expect(idle.documentsCompared).toBeLessThan(all.documentsCompared)
        // Two edits reaching different lists, each in a content invocation of its own, then one
        // documents invocation.
        await publish({ ...elsewhere, title: 'Count resumes in local elections' })
        await run(mode, 'content')
        await publish({ ...fixture(MAIN), title: 'Leaders talk again by phone' })
        await run(mode, 'content')
        const busy = await run(mode, 'documents')
        expect(await feedTitle(MAIN)).toBe('Leaders talk again by phone')
        expect(await feedTitle(elsewhere.slug)).toBe('Count resumes in local elections')
        const elections = await env.KV.get(keys.document('identity', '/themes/elections/feed.xml'))
        expect(elections).toContain('Count resumes in local elections')
        expect(busy.documentsCompared).toBeGreaterThan(idle.documentsCompared)
        // A small site rebuilds every story list a tick, so its changes reach every document.
        if (mode === 'incremental') {
          expect(busy.documentsCompared).toBeLessThan(all.documentsCompared)
        } else expect(busy.documentsCompared).toBe(all.documentsCompared)
        const again = await run(mode, 'documents')
        expect(again.documentsCompared).toBe(idle.documentsCompared)
        expect(again.documentsWritten).toBe(0)
        // A missing document is rendered again by an idle invocation too.
        await env.KV.delete(keys.document('identity', '/feed.json'))
        const healed = await run(mode, 'documents')
        expect(healed.documentsWritten).toBeGreaterThan(0)
        expect(await feedTitle(MAIN)).toBe('Leaders talk again by phone')
      })

      it('narrows the first change after a delta saved without the log (an earlier deploy)', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await run(mode, 'content')
        const all = await run(mode, 'documents')
        await settle(mode)
        const delta = JSON.parse((await env.KV.get(keys.jobDelta)) as string)
        delete delta.reached
        await env.KV.put(keys.jobDelta, JSON.stringify(delta))
        await run(mode, 'documents')
        await publish({ ...fixture(MAIN), title: 'Leaders talk again by phone' })
        await run(mode, 'content')
        const busy = await run(mode, 'documents')
        expect(await feedTitle(MAIN)).toBe('Leaders talk again by phone')
        if (mode === 'incremental') {
          expect(busy.documentsCompared).toBeLessThan(all.documentsCompared)
        } else expect(busy.documentsCompared).toBe(all.documentsCompared)
      })

      it('compares every group when more changes than it keeps came since the last comparison', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await run(mode, 'content')
        const all = await run(mode, 'documents')
        await settle(mode)
        for (let i = 0; i <= REACHED_KEPT; i++) {
          await publish({ ...fixture(MAIN), title: `Leaders talk by phone, take ${i}` })
          await run(mode, 'content')
        }
        const busy = await run(mode, 'documents')
        expect(busy.documentsCompared).toBe(all.documentsCompared)
        expect(await feedTitle(MAIN)).toBe(`Leaders talk by phone, take ${REACHED_KEPT}`)
      })

      it('renders a story whose embargo ended, with no change to the catalog', async () => {
        // Due within a month that has stories already, so no document group is added.
        const later = { ...secondExchange(), publishedAt: '2025-05-25T06:00:00Z' }
        await publish(...FIXTURE_ARTICLES, ...EXTRA, later)
        const at = (now: string, part: RefreshPart) =>
          runRefresh(env.KV, { ...options(mode, part), now: new Date(now) })
        for (let n = 0, pending = 1; pending > 0; n++) {
          expect(n).toBeLessThan(30)
          pending = 0
          for (const part of PARTS) pending += (await at('2025-05-25T00:00:00Z', part)).pending
        }
        expect(await inFeed(ADDED)).toBe(false)
        await at('2025-05-25T07:00:00Z', 'content')
        const documents = await at('2025-05-25T07:00:00Z', 'documents')
        expect(documents.changed).toBe(0)
        expect(await inFeed(ADDED)).toBe(true)
      })

      it('renders a change after a documents invocation saved its cursor over the content part’s', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish({ ...fixture(MAIN), title: 'Leaders talk again by phone' })
        // A documents invocation loads the cursor, the content part runs and saves, then the
        // documents invocation saves the cursor it loaded (it saves nothing else).
        const cursorBefore = await env.KV.get(keys.jobState)
        await run(mode, 'content')
        await env.KV.put(keys.jobState, cursorBefore as string)
        await run(mode, 'documents')
        expect(await feedTitle(MAIN)).toBe('Leaders talk again by phone')
      })

      it('drops a removed story from the lists, then from every peer’s list', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        expect((await holders(GONE)).length).toBeGreaterThan(0)
        await putTombstone(env.KV, { slug: GONE, id: 'x' }, '2025-05-30T00:00:00Z', 'd1')

        expect(await inFeed(GONE)).toBe(true)
        const content = await run(mode, 'content')
        expect(content.removed).toBe(1)
        expect(await latest()).not.toContain(GONE)
        expect(await env.KV.get(keys.related(GONE))).toBeNull()
        await run(mode, 'documents')
        expect(await inFeed(GONE)).toBe(false)

        await run(mode, 'related')
        expect(await holders(GONE)).toEqual([])
        // Found once: the next related invocation writes no list for it.
        const again = await run(mode, 'related')
        expect(again.relatedWritten + again.deletes).toBe(0)
      })

      it('leaves the lists past the write budget unranked for the next related invocation', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        // The story in the most lists: its removal changes each of them.
        let gone = ''
        let held: string[] = []
        for (const slug of ALL) {
          const h = await holders(slug)
          if (h.length > held.length) [gone, held] = [slug, h]
        }
        expect(held.length).toBeGreaterThanOrEqual(4)
        await putTombstone(env.KV, { slug: gone, id: 'x' }, '2025-05-30T00:00:00Z', 'd1')
        await run(mode, 'content')
        // Room for a few writes: once a changed list finds none left, the lists after it are not
        // ranked (the next invocation ranks them). With room, the invocation ranks every holder
        // (and, ranking every list, a small site every story's).
        const tick = await runRefresh(env.KV, { ...options(mode, 'related'), writeBudget: 3 })
        expect(tick.relatedWritten).toBeGreaterThan(0)
        expect(tick.relatedRanked).toBeLessThan(mode === 'full' ? ALL.length - 1 : held.length)
        expect(tick.pending).toBeGreaterThan(0)
        expect((await holders(gone)).length).toBeLessThan(held.length)
        expect((await holders(gone)).length).toBeGreaterThan(0)
        await settle(mode)
        expect(await holders(gone)).toEqual([])
      })

      it('resumes a related invocation that failed part-way, losing nothing', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish(secondExchange())
        await run(mode, 'content')
        await run(mode, 'documents')
        let puts = 0
        const failing = kvFailing('put', () => {
          if (++puts === 2) throw new Error('KV PUT failed: 500')
        })
        await expect(runRefresh(failing, options(mode, 'related'))).rejects.toThrow(/500/)
        // The failed invocation saved nothing: the vector is still to be made.
        expect((await loadJobState(env.KV)).catalog.get(ADDED)?.vectorStale).toBe(true)
        const retry = await run(mode, 'related')
        expect(retry.vectorized).toBe(1)
        expect(await relatedOf(MAIN)).toContain(ADDED)
      })

      it('converges when a related invocation overlapping the content part saves over it', async () => {
        await publish(...FIXTURE_ARTICLES, ...EXTRA)
        await settle(mode)
        await publish(secondExchange())
        // The related invocation loads the job state, the content part runs and saves, then the
        // related invocation saves what it loaded: the content part's catalog change is lost.
        const loadedByRelated = await jobKeys()
        await run(mode, 'content')
        expect(await latest()).toContain(ADDED)
        for (const [key, bytes] of loadedByRelated) {
          if (bytes === null) await env.KV.delete(key)
          else await env.KV.put(key, bytes)
        }
        expect((await loadJobState(env.KV)).catalog.has(ADDED)).toBe(false)
        // The change marker is gone; the full pass finds the story the catalog lacks.
        await settle(mode)
        expect((await loadJobState(env.KV)).catalog.get(ADDED)?.vectorStale).toBeUndefined()
        expect(await relatedOf(MAIN)).toContain(ADDED)
      })
    })
  }
})
