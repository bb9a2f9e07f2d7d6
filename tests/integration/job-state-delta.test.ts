// The job's state is saved as a small delta plus the one shard it folds each busy tick, so a tick
// at 100k articles does not re-encode 150 MB of shards; what is loaded back is what was saved.
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { runRefresh } from '../../src/jobs/refresh'
import {
  type CatalogEntry,
  encodeJobChanges,
  encodeJobState,
  ensureCorpus,
  type JobState,
  loadJobState,
  setVector,
  touch,
} from '../../src/storage/job-state'
import { CATALOG_SHARDS, keys, shardOf } from '../../src/storage/keys'
import { getListingPage, listingMonth } from '../../src/storage/listing'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { publish, settle } from './helpers'

async function jobBytes(): Promise<Map<string, string | null>> {
  const names: string[] = [keys.jobDelta]
  for (let i = 0; i < CATALOG_SHARDS; i++) names.push(keys.catalog(i), keys.corpus(i))
  return env.KV.get(names, 'text')
}

function changedKeys(a: Map<string, string | null>, b: Map<string, string | null>): string[] {
  return [...a.keys()].filter((k) => a.get(k) !== b.get(k))
}

const refresh = () =>
  runRefresh(env.KV, { now: new Date(), site: readSiteConfig(env), writeBudget: 1000 })

// Two fixture stories in different shards: one tick folds one shard, the other waits in the delta.
function twoShards(): [string, string] {
  const slugs = FIXTURE_ARTICLES.map((a) => a.slug)
  const first = slugs[0] as string
  const other = slugs.find((s) => shardOf(s) !== shardOf(first)) as string
  return [first, other]
}

async function listedTitles(): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let cursor: string | null = null
  do {
    const page = await getListingPage(env.KV, cursor, 100)
    for (const e of page?.entries ?? []) out.set(e.slug, e.title)
    cursor = page?.cursor ?? null
  } while (cursor)
  return out
}

/** Forty more stories at four times, so shards hold several rows and some share a time. */
function forty() {
  return Array.from({ length: 40 }, (_, i) => ({
    ...fixture(FIXTURE_ARTICLES[i % FIXTURE_ARTICLES.length]?.slug as string),
    slug: `story-${(i * 7919) % 1000}`,
    publishedAt: `2025-05-0${1 + (i % 4)}T06:00:00Z`,
  }))
}

describe('the job state delta', () => {
  it('saves edits in the delta and one folded shard, loads them back, and idles with no write', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const [a, b] = twoShards()
    const before = await jobBytes()
    await publish({ ...fixture(a), title: 'First edit' }, { ...fixture(b), title: 'Second edit' })
    await refresh()
    const after = await jobBytes()
    const shards = changedKeys(before, after).filter((k) => k !== keys.jobDelta)
    // One catalog shard and its corpus shard; the other shards are not re-encoded.
    expect(shards).toHaveLength(2)
    const state = await loadJobState(env.KV)
    expect(state.damaged).toBe(false)
    expect(state.dirty.size).toBeGreaterThan(0)
    expect(state.catalog.get(a)?.title).toBe('First edit')
    expect(state.catalog.get(b)?.title).toBe('Second edit')
    expect(state.catalog.size).toBe(FIXTURE_ARTICLES.length)
    // The public listing shows both edits after the tick.
    const listed = await listedTitles()
    expect(listed.size).toBe(FIXTURE_ARTICLES.length)
    expect(listed.get(a)).toBe('First edit')
    expect(listed.get(b)).toBe('Second edit')

    // Idle: the delta waits for the next busy tick; nothing is written.
    const idle = await refresh()
    expect(idle.writes + idle.deletes).toBe(0)
    expect(changedKeys(after, await jobBytes())).toEqual([])
  })

  it('stores the catalog, the delta and the listing as ASCII, and reads headlines back unchanged', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const [a, b] = twoShards()
    const headline = 'Zürich: हिन्दी 😀 « news »'
    await publish({ ...fixture(a), title: headline }, { ...fixture(b), title: `${headline} 2` })
    await refresh()
    // The tick folds one of the two shards; the other story waits in the delta. Both kinds of
    // value hold a new headline, and both are ASCII.
    const stored = await jobBytes()
    const delta = stored.get(keys.jobDelta) as string
    const waiting = [a, b].filter((slug) => delta.includes(`"${slug}"`))
    expect(waiting).toHaveLength(1)
    const folded = a === waiting[0] ? b : a
    expect(stored.get(keys.catalog(shardOf(folded)))).toContain(`"${folded}"`)
    for (const [key, text] of stored) expect(text ?? '', key).toMatch(/^[\u0000-\u007f]*$/)
    // So is the listing month the stories are in, which the listing API reads.
    const month = (await env.KV.get(keys.listingMonth(listingMonth(fixture(a).publishedAt)))) ?? ''
    expect(month).toContain(a)
    expect(month).toMatch(/^[\u0000-\u007f]*$/)
    const state = await loadJobState(env.KV)
    expect(state.damaged).toBe(false)
    expect(state.catalog.get(a)?.title).toBe(headline)
    expect(state.catalog.get(b)?.title).toBe(`${headline} 2`)
    expect((await listedTitles()).get(a)).toBe(headline)
  })

  it('keeps removals in the delta, and folds every shard when over the cap', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await env.KV.delete(keys.article('prisoner-exchange-agreed'))
    await refresh()
    let state = await loadJobState(env.KV)
    expect(state.catalog.has('prisoner-exchange-agreed')).toBe(false)
    expect((await listedTitles()).has('prisoner-exchange-agreed')).toBe(false)
    // Folding down to no delta at all rewrites each dirty shard and leaves an empty delta.
    state.touched = 1
    const bytes = await encodeJobChanges(env.KV, state, state.cursor, { maxSlugs: 0 })
    for (const [k, v] of bytes) await env.KV.put(k, v)
    state = await loadJobState(env.KV)
    expect(state.dirty.size).toBe(0)
    expect(state.catalog.size).toBe(FIXTURE_ARTICLES.length - 1)
    expect(state.catalog.has('prisoner-exchange-agreed')).toBe(false)
  })

  it('keeps a vector waiting for the related step in the delta, then in its shard’s row', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const slug = FIXTURE_ARTICLES[0]?.slug as string
    let state = await loadJobState(env.KV)
    const entry = state.catalog.get(slug) as CatalogEntry
    entry.vectorUnranked = true
    entry.relatedFloor = undefined
    touch(state, slug)
    // Not folding: the story waits in the delta, and no shard is written.
    const before = await jobBytes()
    for (const [k, v] of await encodeJobChanges(env.KV, state, state.cursor, {
      maxSlugs: 1000,
      foldOne: false,
    })) {
      await env.KV.put(k, v)
    }
    expect(changedKeys(before, await jobBytes())).toEqual([keys.jobDelta])
    state = await loadJobState(env.KV)
    expect(state.catalog.get(slug)?.vectorUnranked).toBe(true)
    // Folded into its shard: the row says it in the floor's place, and reads back the same.
    state.touched = 1
    for (const [k, v] of await encodeJobChanges(env.KV, state, state.cursor, { maxSlugs: 0 })) {
      await env.KV.put(k, v)
    }
    const shard = JSON.parse((await env.KV.get(keys.catalog(shardOf(slug)))) as string)
    expect(shard.entries.find((row: unknown[]) => row[0] === slug)?.[7]).toBe('unranked')
    state = await loadJobState(env.KV)
    expect(state.dirty.size).toBe(0)
    expect(state.damaged).toBe(false)
    expect(state.catalog.get(slug)).toMatchObject({ vectorUnranked: true, relatedFloor: undefined })
    expect(state.catalog.get(slug)?.vectorStale).toBeUndefined()
  })

  it('reads catalog shards saved as objects (format 1) and folds them into rows', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const saved = await loadJobState(env.KV)
    const v1Bytes = new Map<number, string>()
    for (let i = 0; i < CATALOG_SHARDS; i++) {
      const shard: Record<string, object> = {}
      for (const [slug, entry] of saved.catalog) if (shardOf(slug) === i) shard[slug] = entry
      v1Bytes.set(i, JSON.stringify(shard))
      await env.KV.put(keys.catalog(i), v1Bytes.get(i) as string)
    }
    const old = await loadJobState(env.KV)
    expect(old.damaged).toBe(false)
    expect(old.catalog).toEqual(saved.catalog)
    // A busy tick folds the shard of what it changed back in the current format.
    const edited = FIXTURE_ARTICLES[0]?.slug as string
    await publish({ ...fixture(edited), title: 'Edited after the format change' })
    await refresh()
    const shard = JSON.parse((await env.KV.get(keys.catalog(shardOf(edited)))) as string)
    expect(shard.format).toBe(2)
    expect(shard.entries.map((row: unknown[]) => row[0])).toContain(edited)
    const rows = (await env.KV.get(keys.catalog(shardOf(edited)))) as string
    expect(rows.length).toBeLessThan((v1Bytes.get(shardOf(edited)) as string).length)
    const now = await loadJobState(env.KV)
    expect(now.damaged).toBe(false)
    expect(now.catalog.get(edited)?.title).toBe('Edited after the format change')
    expect(now.catalog.size).toBe(saved.catalog.size)
    // Other entries read back as they were (their related lists may hold the edited headline).
    const own = (e?: CatalogEntry) => e && { ...e, relatedHash: '', relatedFloor: null }
    for (const [slug, entry] of saved.catalog) {
      if (slug !== edited) expect(own(now.catalog.get(slug)), slug).toEqual(own(entry))
    }
  })

  it('stores each catalog shard newest first, and reads shards in slug order the same', async () => {
    const more = forty()
    await publish(...FIXTURE_ARTICLES, ...more)
    await settle()
    const saved = await loadJobState(env.KV)
    let rows = 0
    for (let i = 0; i < CATALOG_SHARDS; i++) {
      const shard = JSON.parse((await env.KV.get(keys.catalog(i))) as string)
      const entries = shard.entries as Array<[string, string, string]>
      rows += entries.length
      const times = entries.map((row) => Date.parse(row[2]))
      for (let k = 1; k < entries.length; k++) {
        expect(times[k - 1] as number).toBeGreaterThanOrEqual(times[k] as number)
        const [prev, next] = [entries[k - 1]?.[0] ?? '', entries[k]?.[0] ?? '']
        if (times[k - 1] === times[k]) expect(prev < next).toBe(true)
      }
      // As shards were stored before: rows in slug order.
      entries.sort((a, b) => (a[0] < b[0] ? -1 : 1))
      await env.KV.put(keys.catalog(i), JSON.stringify(shard))
    }
    expect(rows).toBe(FIXTURE_ARTICLES.length + more.length)
    const bySlug = await loadJobState(env.KV)
    expect(bySlug.damaged).toBe(false)
    expect([...bySlug.catalog.values()].sort((a, b) => (a.slug < b.slug ? -1 : 1))).toEqual(
      [...saved.catalog.values()].sort((a, b) => (a.slug < b.slug ? -1 : 1)),
    )
  })

  it('checks each row of a shard that does not name its placement, and heals a misplaced one', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const [a, b] = twoShards()
    const from = JSON.parse((await env.KV.get(keys.catalog(shardOf(a)))) as string)
    const to = JSON.parse((await env.KV.get(keys.catalog(shardOf(b)))) as string)
    expect(from.placement).toBe(`fnv1a/${CATALOG_SHARDS}`)
    // A's row moved into B's shard, stored as shards were before they named their placement.
    const row = from.entries.find((r: string[]) => r[0] === a)
    from.entries = from.entries.filter((r: string[]) => r[0] !== a)
    row[4] = to.themes.push(from.themes[row[4]]) - 1
    to.entries.push(row)
    delete to.placement
    await env.KV.put(keys.catalog(shardOf(a)), JSON.stringify(from))
    await env.KV.put(keys.catalog(shardOf(b)), JSON.stringify(to))
    expect((await loadJobState(env.KV)).damaged).toBe(true)
    // The next tick writes every shard again, each row in its own.
    await refresh()
    const healed = await loadJobState(env.KV)
    expect(healed.damaged).toBe(false)
    const home = JSON.parse((await env.KV.get(keys.catalog(shardOf(a)))) as string)
    expect(home.entries.map((r: string[]) => r[0])).toContain(a)
    expect(healed.catalog.size).toBe(FIXTURE_ARTICLES.length)
  })

  for (const stored of ['in lines', 'on one line, as before lines']) {
    it(`folds a vector shard stored ${stored} into the bytes a full write gives`, async () => {
      await publish(...FIXTURE_ARTICLES, ...forty())
      await settle()
      // Every vector in its shard (the related part's first vectors wait in the delta until
      // their shards are folded), as a seeded site stores them.
      const settled = await loadJobState(env.KV)
      await ensureCorpus(env.KV, settled)
      for (const [key, bytes] of encodeJobState(settled.cursor, settled.catalog, settled.corpus))
        await env.KV.put(key, bytes)
      const [a] = twoShards()
      const shard = shardOf(a)
      const before = (await env.KV.get(keys.corpus(shard))) as string
      expect(before.startsWith('{\n"')).toBe(true)
      if (stored !== 'in lines') {
        await env.KV.put(keys.corpus(shard), JSON.stringify(JSON.parse(before)))
      }
      // What a large site's tick does to one shard, its vectors not loaded: a new vector, a
      // changed one, a removed one and an entry-only change.
      const others = [...(await loadJobState(env.KV)).catalog.keys()].filter(
        (s) => s !== a && shardOf(s) === shard,
      )
      expect(others.length).toBeGreaterThan(1)
      const [gone, retitled] = others as [string, string]
      let added = 'added-0'
      for (let i = 1; shardOf(added) !== shard; i++) added = `added-${i}`
      const change = (state: JobState) => {
        const entry = state.catalog.get(a) as CatalogEntry
        state.catalog.set(added, { ...entry, slug: added })
        setVector(state, added, { slug: added, t: 'new' })
        setVector(state, a, { slug: a, t: 'changed' })
        state.catalog.delete(gone)
        setVector(state, gone, null)
        const old = state.catalog.get(retitled) as CatalogEntry
        state.catalog.set(retitled, { ...old, title: 'Retitled' })
        touch(state, retitled)
      }
      const state = await loadJobState(env.KV)
      change(state)
      const folded = (await encodeJobChanges(env.KV, state, state.cursor)).get(keys.corpus(shard))
      const whole = await loadJobState(env.KV)
      change(whole)
      await ensureCorpus(env.KV, whole)
      const full = encodeJobState(whole.cursor, whole.catalog, whole.corpus).get(keys.corpus(shard))
      expect(folded).toBe(full)
      expect(folded).toContain(`"${added}":{"slug":"${added}","t":"new"}`)
      expect(folded).toContain(`"${a}":{"slug":"${a}","t":"changed"}`)
      expect(folded).not.toContain(`"${gone}"`)
      expect(folded).toContain(`"${retitled}"`)
    })
  }

  it('keeps listing the stories of a lost vector shard and vectorizes them again', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const lost = shardOf(FIXTURE_ARTICLES[0]?.slug as string)
    const inShard = FIXTURE_ARTICLES.filter((a) => shardOf(a.slug) === lost).map((a) => a.slug)
    await env.KV.delete(keys.corpus(lost))
    await refresh()
    // Still listed while the full pass reads them again.
    const titles = await listedTitles()
    for (const slug of inShard) expect(titles.has(slug), slug).toBe(true)
    await settle()
    const state = await loadJobState(env.KV)
    await ensureCorpus(env.KV, state)
    for (const a of FIXTURE_ARTICLES) {
      expect(state.corpus.has(a.slug), a.slug).toBe(true)
      expect(state.catalog.get(a.slug)?.hash, a.slug).not.toBe('')
    }
  })
})
