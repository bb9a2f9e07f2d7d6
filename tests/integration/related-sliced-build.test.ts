// Sites past SLICED_ABOVE build the stored related index in slices, a few a tick
// (jobs/build-related.ts), while ticks keep ranking against the last one. Forced here on the
// fixture site (incrementalAbove and slicedAbove: 2), one slice a tick: 16 shards, one group, the
// tables.
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { type RefreshOptions, type RefreshReport, runRefresh } from '../../src/jobs/refresh'
import { buildIndex, type DocVector, rankRelated, updateIndex } from '../../src/related'
import type { BaseMeta } from '../../src/related/base-index'
import { putTombstone } from '../../src/storage/articles'
import type { RelatedList } from '../../src/storage/indexes'
import { isolateCache } from '../../src/storage/isolate-cache'
import { ensureCorpus, loadJobState } from '../../src/storage/job-state'
import { keys } from '../../src/storage/keys'
import { baseValues } from '../../src/storage/related-base'
import { droneReports, FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { kvFailing, publish } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'
const NOW = new Date('2025-06-01T00:00:00Z')
const EXTRA = droneReports()
const SITE = [...FIXTURE_ARTICLES, ...EXTRA]
// 16 shard slices, one group, then the tables and meta.
const SLICES = 18

function added(n: number) {
  return {
    ...fixture('prisoner-exchange-agreed'),
    slug: `prisoner-exchange-${n}`,
    title: `Prisoner exchange number ${n} between Ukraine and Russia`,
    publishedAt: `2025-05-2${n}T09:00:00Z`,
  }
}

function refresh(extra: Partial<RefreshOptions> = {}, kv: KVNamespace = env.KV) {
  return runRefresh(kv, {
    now: NOW,
    site: { ...readSiteConfig(env), relatedCount: 3 },
    writeBudget: 1000,
    verifyPerTick: 1,
    incrementalAbove: 2,
    slicedAbove: 2,
    buildPerTick: 1,
    rerankPerTick: 0,
    ...extra,
  })
}

async function meta(): Promise<BaseMeta | null> {
  const text = await env.KV.get(keys.relatedMeta)
  return text ? (JSON.parse(text) as BaseMeta) : null
}

async function related(slug: string): Promise<string[]> {
  const text = await env.KV.get(keys.related(slug))
  return text ? (JSON.parse(text) as RelatedList).items.map((i) => i.slug) : []
}

async function overlaySlugs(): Promise<string[]> {
  const text = await env.KV.get(keys.relatedOverlay)
  return Object.keys((JSON.parse(text as string) as { docs: object }).docs).sort()
}

async function overlayDocs(): Promise<Record<string, unknown>> {
  return (JSON.parse((await env.KV.get(keys.relatedOverlay)) as string) as { docs: object })
    .docs as Record<string, unknown>
}

async function buildKeys(): Promise<string[]> {
  return (await env.KV.list({ prefix: keys.relatedBuildsPrefix })).keys.map((k) => k.name)
}

async function genKeys(): Promise<string[]> {
  return (await env.KV.list({ prefix: keys.relatedGensPrefix })).keys.map((k) => k.name)
}

/** Ticks until one reports nothing pending; returns every report. */
async function settle(extra: Partial<RefreshOptions> = {}): Promise<RefreshReport[]> {
  const reports: RefreshReport[] = []
  for (let n = 1; n <= 60; n++) {
    const report = await refresh(extra)
    reports.push(report)
    if (report.pending === 0) return reports
  }
  throw new Error('refresh did not settle')
}

/**
 * Every story's list as ranking the whole corpus at once gives it (a full build). Lists that no
 * change reached keep the statistics of the build they were ranked against until the re-rank
 * after a build reaches them: tests that build twice settle with it first.
 */
async function expectFullRanking(count: number) {
  const state = await loadJobState(env.KV)
  await ensureCorpus(env.KV, state)
  // A shard keeps a removed story's vector until it is folded; the catalog says what is live.
  const vectors = [...state.corpus.values()].filter((v) =>
    state.catalog.has((v as DocVector).slug),
  ) as DocVector[]
  expect(vectors).toHaveLength(count)
  const index = buildIndex(vectors, { limit: 3 })
  for (const v of vectors) {
    expect(await related(v.slug), v.slug).toEqual(rankRelated(index, v.slug).map((r) => r.slug))
  }
}

const parts = (...p: NonNullable<RefreshOptions['parts']>): Partial<RefreshOptions> => ({
  parts: p,
})

const STORY = added(1).slug

/** A prisoner-exchange story rewritten as a drone report: its peers change. */
const storyRewritten = () => ({
  ...fixture('drone-attacks-before-call'),
  slug: STORY,
  title: 'Drone attacks on Kharkiv overnight, before the call',
  publishedAt: added(1).publishedAt,
})

/** The site settled with the story ranked in its first version. */
async function settleWithStory() {
  await settle()
  await publish(added(1))
  await settle()
}

/** Every story's related list as stored, by slug. */
async function everyList(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const a of [...SITE, added(1)]) out.set(a.slug, await related(a.slug))
  return out
}

/** Empties KV and publishes the site again, settled: a second run from the same start. */
async function startOver() {
  for (let cursor: string | undefined; ; ) {
    const page = await env.KV.list(cursor ? { cursor } : {})
    for (const k of page.keys) await env.KV.delete(k.name)
    if (page.list_complete) break
    cursor = page.cursor
  }
  isolateCache.clear()
  await publish(...SITE)
  await refresh()
  await settle()
}

describe('the related index built in slices', () => {
  beforeEach(async () => {
    await publish(...SITE)
    // The first tick found an empty catalog (a small site): it ranks every list at once.
    await refresh()
  })

  it('is built a slice a tick, used only once whole, and ranks as a full build', async () => {
    expect(await meta()).toBeNull()
    const reports = await settle()
    // One slice a tick, and no index to read until the last one wrote its meta.
    expect(reports.slice(0, SLICES).every((r) => r.relatedBuildSlices === 1)).toBe(true)
    const built = (await meta()) as BaseMeta
    expect(built.n).toBe(SITE.length)
    // What the slices wrote for each other is swept; the generation's own values stay.
    expect(await buildKeys()).toEqual([])
    expect(await genKeys()).toHaveLength(baseValues(built))
    await expectFullRanking(SITE.length)
  })

  it('takes every slice a budget allows, but ends the build in a tick of its own', async () => {
    // 16 shards and the one group fit one tick's budget; the tables, meta and overlay wait.
    const first = await refresh({ buildPerTick: 1_000_000 })
    expect(first.relatedBuildSlices).toBe(SLICES - 1)
    expect(await meta()).toBeNull()
    const last = await refresh({ buildPerTick: 1_000_000 })
    expect(last.relatedBuildSlices).toBe(1)
    expect((await meta())?.n).toBe(SITE.length)
  })

  it('keeps ranking against the last build while the next one is built, then takes it', async () => {
    await settle()
    const first = (await meta()) as BaseMeta
    // Past half the overlay's bound a build starts; the tick still ranks the addition in.
    await publish(added(1))
    let report = await refresh({ maxOverlay: 1 })
    expect(report.relatedBuildSlices).toBe(1)
    expect(await related(MAIN)).toContain(added(1).slug)
    // A story added and one removed while it is built: both reach their peers' lists at once.
    // (The added one is a copy of the removed one: it takes its place.)
    await publish(added(2))
    await putTombstone(
      env.KV,
      { slug: 'prisoner-exchange-agreed', id: 'x' },
      '2025-05-30T00:00:00Z',
      'd1',
    )
    report = await refresh({ maxOverlay: 1 })
    expect(report.relatedBuildSlices).toBe(1)
    expect((await meta())?.gen).toBe(first.gen)
    expect(await related(added(2).slug)).toContain(MAIN)
    for (const a of SITE)
      expect(await related(a.slug), a.slug).not.toContain('prisoner-exchange-agreed')
    // Ticks until the build is taken; the lists that hold MAIN then, ranked against the old one.
    for (let n = 0; n < 40 && (await meta())?.gen === first.gen; n++) {
      await refresh({ maxOverlay: 1 })
    }
    const second = (await meta()) as BaseMeta
    expect(second.gen).not.toBe(first.gen)
    const holders: string[] = []
    for (const a of SITE) if ((await related(a.slug)).includes(MAIN)) holders.push(a.slug)
    expect(holders.length).toBeGreaterThan(0)
    // A story of the new build that leaves right after it was taken leaves its peers' lists.
    await putTombstone(env.KV, { slug: MAIN, id: 'y' }, '2025-05-31T00:00:00Z', 'd2')
    await refresh({ maxOverlay: 1000 })
    for (const slug of holders) expect(await related(slug), slug).not.toContain(MAIN)
    await settle({ maxOverlay: 1000, rerankPerTick: 100 })
    expect(await buildKeys()).toEqual([])
    for (const key of await genKeys()) {
      expect(key.startsWith(keys.relatedGenPrefix(second.gen))).toBe(true)
    }
    // The new build holds every story published when its shard was sliced; the overlay the rest.
    expect(second.n + (await overlaySlugs()).length).toBeGreaterThanOrEqual(SITE.length)
    await expectFullRanking(SITE.length)
  })

  // The stories a build carries into its first overlay are weighed in its last tick, so that the
  // first related step against it need not stream each one's every term.
  it('weighs the stories it carries in its last tick, as a tick against the new build would', async () => {
    await settle()
    const first = (await meta()) as BaseMeta
    await publish(added(1))
    await refresh({ maxOverlay: 1 })
    // Every shard sliced (one a tick); then a story added and one changed, neither in the build.
    for (let n = 1; n < 16; n++) await refresh({ maxOverlay: 1 })
    const before = fixture('prisoner-exchange-agreed')
    const changed = { ...before, body: `${before.body} More prisoners crossed at the border.` }
    const built = await loadJobState(env.KV)
    await ensureCorpus(env.KV, built)
    const oldVersion = built.corpus.get(before.slug) as DocVector
    await publish(added(2), changed)
    for (let n = 0; n < 10 && (await meta())?.gen === first.gen; n++) {
      await refresh({ maxOverlay: 1 })
    }
    expect((await meta())?.gen).not.toBe(first.gen)
    type Docs = Record<string, { h: string; v: DocVector; r?: number[]; s?: number }>
    const carried = (await overlayDocs()) as Docs
    expect(Object.keys(carried).sort()).toEqual([added(2).slug, before.slug].sort())
    for (const doc of Object.values(carried)) expect(doc.s).toBeGreaterThan(0)
    // A word only added(1) held in the build: the copy that joins after it shares it.
    expect(carried[added(2).slug]?.r?.length).toBeGreaterThan(0)
    // Without them, the next related step weighs the same stories itself: the same hits, the
    // same scales.
    const bare: Docs = {}
    for (const [slug, { h, v }] of Object.entries(carried)) bare[slug] = { h, v }
    const stored = JSON.parse((await env.KV.get(keys.relatedOverlay)) as string)
    await env.KV.put(keys.relatedOverlay, JSON.stringify({ ...stored, docs: bare }))
    await refresh({ maxOverlay: 1000, rerankPerTick: 100 })
    expect(await overlayDocs()).toEqual(carried)
    await settle({ maxOverlay: 1000, rerankPerTick: 100 })
    // Every list as the new build and its overlay rank it: the build holds the changed story's
    // old version, whose statistics stay until the next build.
    const state = await loadJobState(env.KV)
    await ensureCorpus(env.KV, state)
    const vectors = [...state.corpus.values()] as DocVector[]
    const index = buildIndex([...vectors.filter((v) => !(v.slug in carried)), oldVersion], {
      limit: 3,
    })
    updateIndex(
      index,
      vectors.filter((v) => v.slug in carried),
    )
    expect(vectors).toHaveLength(SITE.length + 2)
    for (const v of vectors) {
      expect(await related(v.slug), v.slug).toEqual(rankRelated(index, v.slug).map((r) => r.slug))
    }
  })

  it('takes its slices in an invocation of its own when the build has a trigger', async () => {
    await settle()
    const first = (await meta()) as BaseMeta
    await publish(added(1))
    const parts = (...p: NonNullable<RefreshOptions['parts']>) => ({ maxOverlay: 1, parts: p })
    await refresh(parts('content', 'documents'))
    expect((await refresh(parts('related'))).relatedBuildSlices).toBe(0)
    expect(await related(added(1).slug)).toContain(MAIN)
    expect((await refresh(parts('build'))).relatedBuildSlices).toBe(1)
    for (let n = 0; n < 40 && (await meta())?.gen === first.gen; n++) {
      await refresh(parts('content', 'documents'))
      await refresh(parts('related'))
      await refresh(parts('build'))
    }
    expect((await meta())?.gen).not.toBe(first.gen)
    await settle({ rerankPerTick: 100 })
    await expectFullRanking(SITE.length + 1)
  })

  it('makes the vectors in the documents invocation, and ranks them as the related one would', async () => {
    // The lists when the related invocation makes the vectors itself, as before.
    await settleWithStory()
    const first = await everyList()
    await publish(storyRewritten())
    await refresh(parts('content'))
    await refresh(parts('documents', 'related'))
    const itself = await everyList()
    // The rewrite reached peers' lists, not only its own.
    const moved = [...itself].filter(
      ([slug, list]) => slug !== STORY && `${list}` !== `${first.get(slug)}`,
    )
    expect(moved.length).toBeGreaterThan(0)

    await startOver()
    await settleWithStory()
    await publish(storyRewritten())
    await refresh(parts('content'))
    expect((await loadJobState(env.KV)).catalog.get(STORY)?.vectorStale).toBe(true)
    expect((await refresh(parts('documents'))).vectorized).toBe(1)
    // Waiting for the related step in the entry, its vector in the delta (no shard folded).
    const state = await loadJobState(env.KV)
    expect(state.catalog.get(STORY)).toMatchObject({ vectorUnranked: true })
    expect(state.catalog.get(STORY)?.vectorStale).toBeUndefined()
    expect(state.corpus.has(STORY)).toBe(true)
    // The related invocation reads no article: it ranks what the documents invocation made.
    const read: string[] = []
    const spying = kvFailing('get', (key) => {
      for (const k of Array.isArray(key) ? key : [key]) read.push(String(k))
    })
    expect((await refresh(parts('related'), spying)).vectorized).toBe(0)
    expect(read.filter((k) => k.startsWith(keys.articlePrefix))).toEqual([])
    expect(await everyList()).toEqual(itself)
    expect((await loadJobState(env.KV)).catalog.get(STORY)?.vectorUnranked).toBeUndefined()
  })

  it('keeps a vector the documents invocation made waiting through a failed related invocation', async () => {
    await settleWithStory()
    await publish(storyRewritten())
    await refresh(parts('content'))
    await refresh(parts('documents', 'related'))
    const itself = await everyList()

    await startOver()
    await settleWithStory()
    await publish(storyRewritten())
    await refresh(parts('content'))
    await refresh(parts('documents'))
    const failing = kvFailing('put', () => {
      throw new Error('KV put failed')
    })
    await expect(refresh(parts('related'), failing)).rejects.toThrow('KV put failed')
    expect((await loadJobState(env.KV)).catalog.get(STORY)?.vectorUnranked).toBe(true)
    // The next tick's invocations: nothing more to vectorize, and the related one ranks it.
    await refresh(parts('content'))
    expect((await refresh(parts('documents'))).vectorized).toBe(0)
    await refresh(parts('related'))
    expect(await everyList()).toEqual(itself)
  })

  it('finds in its own invocation that no build is due without loading the catalog', async () => {
    await settle()
    await publish(added(1))
    await refresh(parts('content'))
    await refresh(parts('documents'))
    await refresh(parts('related'))
    const read: string[] = []
    const spying = kvFailing('get', (key) => {
      for (const k of Array.isArray(key) ? key : [key]) read.push(String(k))
    })
    const before = await env.KV.get(keys.jobState)
    const idle = await refresh(parts('build'), spying)
    expect(idle).toMatchObject({ relatedBuildSlices: 0, pending: 0, writes: 0 })
    expect(idle.articles).toBe(SITE.length + 1)
    expect(read.sort()).toEqual(
      [keys.jobState, keys.relatedMeta, keys.relatedOverlay, keys.status].sort(),
    )
    expect(await env.KV.get(keys.jobState)).toBe(before)
    // A cursor saved before it counted the catalog: the invocation loads the catalog to decide.
    const cursor = JSON.parse(before as string)
    delete cursor.catalogSize
    delete cursor.vectorsWaiting
    await env.KV.put(keys.jobState, JSON.stringify(cursor))
    read.length = 0
    expect((await refresh(parts('build'), spying)).relatedBuildSlices).toBe(0)
    expect(read.filter((k) => k.includes(':job:catalog:')).length).toBeGreaterThan(0)
    // A build due (a smaller bound on the overlay): the same invocation starts it.
    read.length = 0
    expect((await refresh({ ...parts('build'), maxOverlay: 1 }, spying)).relatedBuildSlices).toBe(1)
  })

  it('keeps writes for its slices when ranking wants the whole write budget', async () => {
    await settle()
    // Every list written again (lost), with room for only a few: the build still takes a slice.
    for (const a of SITE) await env.KV.delete(keys.related(a.slug))
    await publish(added(1))
    const report = await refresh({ maxOverlay: 1, writeBudget: 12, verifyPerTick: 1000 })
    expect(report.relatedBuildSlices).toBe(1)
    expect(report.pending).toBeGreaterThan(0)
    await settle({ maxOverlay: 1, verifyPerTick: 1000 })
    for (const a of SITE) expect(await related(a.slug), a.slug).not.toEqual([])
  })

  it('starts again when a slice it wrote is lost, and still ends whole', async () => {
    // Half the shards sliced, then one of their runs goes.
    for (let n = 0; n < 8; n++) await refresh()
    const state = await loadJobState(env.KV)
    const build = state.cursor.relatedBuild
    expect(build).not.toBeNull()
    const done = build?.shards.findIndex((s) => s !== null) as number
    await env.KV.delete(keys.relatedBuild(build?.gen as string, `run:${done}:0`))
    await settle({ rerankPerTick: 100 })
    const built = (await meta()) as BaseMeta
    expect(built.gen).not.toBe(build?.gen)
    expect(built.n).toBe(SITE.length)
    expect(await buildKeys()).toEqual([])
    await expectFullRanking(SITE.length)
  })

  it('resumes after a tick that failed part-way through a slice, losing nothing', async () => {
    for (let n = 0; n < 3; n++) await refresh()
    let puts = 0
    const failing = kvFailing('put', (key) => {
      if (String(key).includes(':relbuild:') && ++puts === 2) throw new Error('KV put failed')
    })
    await expect(refresh({}, failing)).rejects.toThrow('KV put failed')
    await settle()
    expect((await meta())?.n).toBe(SITE.length)
    await expectFullRanking(SITE.length)
  })

  it('waits for a new build when a part of the stored one is lost, then ranks what changed', async () => {
    await settle()
    const first = (await meta()) as BaseMeta
    await env.KV.delete(keys.relatedPart(first.gen, 0))
    await publish(added(1))
    await settle({ rerankPerTick: 100 })
    expect((await meta())?.gen).not.toBe(first.gen)
    // Its own list was ranked once the new build was whole, and every list is a full build's.
    expect(await related(added(1).slug)).toContain(MAIN)
    await expectFullRanking(SITE.length + 1)
  })
})
