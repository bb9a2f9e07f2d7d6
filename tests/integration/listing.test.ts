// Summaries and ids live in one listing value per publication month, apart from the job's
// catalog (read whole every tick). The public listing pages through those months, story lists
// take their summaries from them, and a lost month or index heals at the next tick.
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { type RefreshOptions, runRefresh } from '../../src/jobs/refresh'
import { asciiJson } from '../../src/storage/ascii-json'
import { getStoryList } from '../../src/storage/indexes'
import { loadJobState } from '../../src/storage/job-state'
import { CATALOG_SHARDS, keys, shardOf } from '../../src/storage/keys'
import { encodeListingMonth, type ListingEntry } from '../../src/storage/listing'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { get, publish } from './helpers'

const NOW = new Date('2025-06-01T12:00:00Z')

const refresh = (extra: Partial<RefreshOptions> = {}) =>
  runRefresh(env.KV, { now: NOW, site: readSiteConfig(env), writeBudget: 1000, ...extra })

// Five fixture stories in May 2025, and one story in each of three earlier months.
const OLDER = ['2025-04-02T09:00:00Z', '2025-02-11T09:00:00Z', '2024-12-24T09:00:00Z'].map(
  (publishedAt, i) => ({
    ...fixture('prisoner-exchange-agreed'),
    slug: `older-story-${i}`,
    title: `Older story ${i}`,
    summary: `What happened in older story ${i}.`,
    publishedAt,
  }),
)
const ALL = [...FIXTURE_ARTICLES, ...OLDER]

interface Listed {
  slug: string
  id: string
  summary: string
  publishedAt: string
}

async function listAll(limit: number): Promise<{ articles: Listed[]; pages: number }> {
  const articles: Listed[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res = await get(`/api/articles?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
    expect(res.status).toBe(200)
    const page = (await res.json()) as { articles: Listed[]; cursor: string | null }
    articles.push(...page.articles)
    cursor = page.cursor
    pages++
  } while (cursor && pages < 50)
  return { articles, pages }
}

const newestFirst = (a: { publishedAt: string; slug: string }, b: typeof a) =>
  Date.parse(b.publishedAt) - Date.parse(a.publishedAt) || (a.slug < b.slug ? -1 : 1)

// Real KV, with the key of every value read noted (which listing months a tick reads), and every
// call of the given methods in order (`get v1:...`, `put v1:...`).
function recordingKv(methods: readonly string[] = ['get', 'getWithMetadata']): {
  kv: KVNamespace
  read: Set<string>
  log: string[]
} {
  const read = new Set<string>()
  const log: string[] = []
  const kv = new Proxy(env.KV, {
    get(target, prop) {
      const member = Reflect.get(target, prop) as unknown
      if (typeof member !== 'function') return member
      if (!methods.includes(String(prop))) return member.bind(target)
      return (key: string | string[], ...rest: unknown[]) => {
        for (const k of [key].flat()) {
          log.push(`${String(prop)} ${k}`)
          if (prop !== 'put') read.add(k)
        }
        return member.call(target, key, ...rest)
      }
    },
  })
  return { kv, read, log }
}

const summaryIn = async (key: string, slug: string) =>
  (await getStoryList(env.KV, key)).list?.items.find((i) => i.slug === slug)?.summary

// A newer story in the themes of every older one: the theme lists it enters span four months.
const NEWER = {
  ...fixture('prisoner-exchange-agreed'),
  slug: 'newer-story',
  title: 'A newer story',
  summary: 'What happened next.',
  publishedAt: '2025-05-25T09:00:00Z',
}

// An incremental tick with no verification slice: only the lists the changes reach.
const reached = (extra: Partial<RefreshOptions> = {}) =>
  refresh({ incrementalAbove: 0, verifyListsPerTick: 0, ...extra })

async function listingKeys(): Promise<string[]> {
  const listed = await env.KV.list({ prefix: 'v1:job:listing' })
  return listed.keys.map((k) => k.name).sort()
}

describe('the listing months', () => {
  beforeEach(async () => {
    await publish(...ALL)
    await refresh()
  })

  it('pages GET /api/articles newest first across months, with ids and summaries', async () => {
    const expected = [...ALL].sort(newestFirst).map((a) => a.slug)
    for (const limit of [1, 2, 3, 100]) {
      const { articles, pages } = await listAll(limit)
      expect(articles.map((a) => a.slug)).toEqual(expected)
      expect(pages).toBe(Math.ceil(expected.length / limit))
    }
    const { articles } = await listAll(100)
    for (const a of articles) {
      expect(a.id).toMatch(/^01TEST/)
      expect(a.summary).toBe(ALL.find((f) => f.slug === a.slug)?.summary)
    }
    expect(await listingKeys()).toEqual([
      keys.listingIndex,
      keys.listingMonth('2024-12'),
      keys.listingMonth('2025-02'),
      keys.listingMonth('2025-04'),
      keys.listingMonth('2025-05'),
    ])
    expect((await get('/api/articles?cursor=3.0')).status).toBe(400)
  })

  it('shows an edited summary in the story lists and the listing after one incremental tick', async () => {
    const slug = 'prisoner-exchange-agreed'
    await publish({ ...fixture(slug), summary: 'A corrected summary.' })
    const report = await refresh({ incrementalAbove: 0 })
    expect(report.changed).toBe(1)
    for (const key of [keys.latest, keys.month('2025-05'), keys.theme('russia')]) {
      const items = (await getStoryList(env.KV, key)).list?.items ?? []
      expect(items.find((i) => i.slug === slug)?.summary, key).toBe('A corrected summary.')
      // The others keep theirs (read from the month's stored value, not the catalog).
      const other = items.find((i) => i.slug !== slug)
      if (other) expect(other.summary).toBe(fixture(other.slug).summary)
    }
    const { articles } = await listAll(100)
    expect(articles.find((a) => a.slug === slug)?.summary).toBe('A corrected summary.')
    // A story moved to another month leaves the old one: the emptied month's value goes.
    await publish({ ...OLDER[2], publishedAt: '2025-02-20T09:00:00Z' } as (typeof OLDER)[0])
    await refresh({ incrementalAbove: 0 })
    expect(await env.KV.get(keys.listingMonth('2024-12'))).toBeNull()
    expect((await listAll(100)).articles.map((a) => a.slug)).toContain('older-story-2')
  })

  it("rebuilds the lists a new story enters reading its month only, keeping the others' summaries", async () => {
    await publish(NEWER)
    const { kv, read } = recordingKv()
    const report = await runRefresh(kv, {
      now: NOW,
      site: readSiteConfig(env),
      writeBudget: 1000,
      incrementalAbove: 0,
      verifyListsPerTick: 0,
    })
    expect(report.changed).toBe(1)
    const months = [...read].filter((k) => k.startsWith(keys.listingMonth(''))).sort()
    expect(months).toEqual([keys.listingMonth('2025-05')])
    for (const key of [keys.latest, keys.theme('russia'), keys.theme('ukraine-war')]) {
      expect(await summaryIn(key, 'newer-story'), key).toBe('What happened next.')
      for (const older of OLDER) expect(await summaryIn(key, older.slug), key).toBe(older.summary)
    }
    // What a full rebuild, reading every month, makes.
    expect((await refresh()).listsWritten).toBe(0)
  })

  it("shows an earlier month's edited summary in a list the write budget left for later", async () => {
    await publish({ ...OLDER[1], summary: 'Corrected later.' } as (typeof OLDER)[0])
    // Three writes: the listing month, the latest list and the month's archive. The theme lists
    // wait for the next ticks, which no longer see the edit as a change.
    let report = await reached({ writeBudget: 3 })
    expect(report.pending).toBeGreaterThan(0)
    expect(await summaryIn(keys.month('2025-02'), 'older-story-1')).toBe('Corrected later.')
    expect(await summaryIn(keys.theme('ukraine-war'), 'older-story-1')).toBe(OLDER[1]?.summary)
    for (let i = 0; i < 5 && report.pending > 0; i++) report = await reached()
    expect(report.pending).toBe(0)
    for (const key of [keys.latest, keys.theme('russia'), keys.theme('ukraine-war')])
      expect(await summaryIn(key, 'older-story-1'), key).toBe('Corrected later.')
    expect((await refresh()).listsWritten).toBe(0)
  })

  it('keeps a summary damaged in one stored list out of the others, and heals it', async () => {
    const key = keys.latest
    const stored = JSON.parse((await env.KV.get(key)) ?? '{}')
    const damaged = stored.items.find((i: { slug: string }) => i.slug === 'older-story-1')
    damaged.summary = 'Damaged.'
    await env.KV.put(key, JSON.stringify(stored))
    await publish(NEWER)
    await reached()
    for (const other of [keys.theme('russia'), keys.theme('ukraine-war'), keys.month('2025-02')])
      expect(await summaryIn(other, 'older-story-1'), other).toBe(OLDER[1]?.summary)
    // The list that held it is healed when the rotating verification slice comes round to it.
    let ticks = 0
    while ((await summaryIn(key, 'older-story-1')) !== OLDER[1]?.summary && ticks < 40) {
      await reached({ verifyListsPerTick: 1 })
      ticks++
    }
    expect(await summaryIn(key, 'older-story-1')).toBe(OLDER[1]?.summary)
    expect((await refresh()).listsWritten).toBe(0)
  })

  it('rebuilds a lost month and a lost index from the articles at the next tick', async () => {
    const before = await listAll(100)
    await env.KV.delete(keys.listingMonth('2025-05'))
    await env.KV.delete(keys.listingIndex)
    const report = await refresh({ incrementalAbove: 0 })
    // The five May stories were read again (in one bulk get); nothing else changed.
    expect(report.changed).toBe(0)
    expect(report.reads).toBeGreaterThan(0)
    expect(await listAll(100)).toEqual(before)
    // Settled: a small site's tick, which reads every month, finds nothing more to write (the
    // first one after the incremental tick saves the cursor of its mode).
    await refresh()
    const idle = await refresh()
    expect(idle.writes + idle.deletes).toBe(0)
  })

  it('keeps each untouched story of a month as stored when one changes, in either stored form', async () => {
    const key = keys.listingMonth('2025-05')
    const stored = async () => (await env.KV.get(key)) ?? ''
    const entriesOf = (text: string) => (JSON.parse(text) as { entries: ListingEntry[] }).entries
    // A month in lines: a line per story, the bytes a fresh encoding of its entries gives.
    const lined = await stored()
    expect(lined.split('\n')).toHaveLength(FIXTURE_ARTICLES.length + 2)
    expect(lined).toBe(encodeListingMonth('2025-05', entriesOf(lined)))
    // A month stored before lines (one line) is read as before; the next change to it writes it in
    // lines, the untouched stories as they were.
    const { entries } = JSON.parse(lined) as { entries: ListingEntry[] }
    await env.KV.put(key, asciiJson({ version: 1, month: '2025-05', entries }))
    expect((await listAll(100)).articles.map((a) => a.slug)).toContain('prisoner-exchange-agreed')
    const slug = 'prisoner-exchange-agreed'
    for (const summary of ['Edited once.', 'Edited twice.']) {
      await publish({ ...fixture(slug), summary })
      await reached()
      const after = await stored()
      const now = entriesOf(after)
      expect(after).toBe(encodeListingMonth('2025-05', now))
      expect(now.find((e) => e.slug === slug)?.summary).toBe(summary)
      expect(now.filter((e) => e.slug !== slug)).toEqual(entries.filter((e) => e.slug !== slug))
    }
    // Removed: the month keeps the other four, in lines.
    const res = await get(`/api/articles/${slug}`, {
      method: 'DELETE',
      headers: { Authorization: 'Bearer test-admin-token' },
    })
    expect(res.status).toBe(204)
    await reached()
    const left = entriesOf(await stored())
    expect(left.map((e) => e.slug)).toEqual(entries.map((e) => e.slug).filter((s) => s !== slug))
    expect(await stored()).toBe(encodeListingMonth('2025-05', left))
  })

  it('writes each changed month once it is read, before reading the next few', async () => {
    // A summary edited in each of the four months: a tick reads them three at a time.
    await publish(...OLDER.map((a) => ({ ...a, summary: `${a.summary} Updated.` })), {
      ...fixture('prisoner-exchange-agreed'),
      summary: 'Updated in May.',
    })
    const { kv, log } = recordingKv(['get', 'put'])
    await runRefresh(kv, {
      now: NOW,
      site: readSiteConfig(env),
      writeBudget: 1000,
      incrementalAbove: 0,
    })
    const at = (entry: string) => log.indexOf(entry)
    // The first three months are written before the fourth is read, so a tick that touches
    // every month of a large site holds three at a time.
    for (const month of ['2024-12', '2025-02', '2025-04']) {
      expect(at(`put ${keys.listingMonth(month)}`), month).toBeGreaterThan(-1)
      expect(at(`put ${keys.listingMonth(month)}`), month).toBeLessThan(
        at(`get ${keys.listingMonth('2025-05')}`),
      )
    }
    const { articles } = await listAll(100)
    for (const a of [...OLDER, fixture('prisoner-exchange-agreed')]) {
      const listed = articles.find((l) => l.slug === a.slug)?.summary
      expect(listed).toBe(
        a.slug === 'prisoner-exchange-agreed' ? 'Updated in May.' : `${a.summary} Updated.`,
      )
    }
    // The lists a full tick builds are those already stored; the next tick writes nothing.
    expect((await refresh()).listsWritten).toBe(0)
    const idle = await refresh()
    expect(idle.writes + idle.deletes).toBe(0)
  })

  it('rebuilds at most monthsPerTick month archives a tick, the rest first the next ticks', async () => {
    const del = async (slug: string) => {
      const res = await get(`/api/articles/${slug}`, {
        method: 'DELETE',
        headers: { Authorization: 'Bearer test-admin-token' },
      })
      expect(res.status).toBe(204)
    }
    // A second story in April and February, so that no month empties (which rebuilds every list).
    const seconds = OLDER.slice(0, 2).map((a, i) => ({
      ...a,
      slug: `second-older-story-${i}`,
      publishedAt: a.publishedAt.replace('T09', 'T10'),
    }))
    await publish(...seconds)
    await reached()
    await del('older-story-0')
    await del('older-story-1')
    await publish({ ...fixture('prisoner-exchange-agreed'), summary: 'Updated in May.' })
    const archived = async (month: string) =>
      ((await getStoryList(env.KV, keys.month(month))).list?.items ?? []).map((i) => i.slug)
    const listed = async () => (await listAll(100)).articles.map((a) => a.slug)
    const first = await reached({ monthsPerTick: 1 })
    expect(first.changed).toBe(3)
    // The newest month now; April and February wait, still listing their removed story.
    const may = (await getStoryList(env.KV, keys.month('2025-05'))).list?.items ?? []
    expect(may.find((i) => i.slug === 'prisoner-exchange-agreed')?.summary).toBe('Updated in May.')
    expect(await archived('2025-04')).toEqual(['second-older-story-0', 'older-story-0'])
    expect(await listed()).toContain('older-story-1')
    expect(first.pending).toBeGreaterThan(0)
    // The latest and theme lists are whole at once, every summary in them.
    for (const key of [keys.latest, keys.theme('russia')]) {
      const items = (await getStoryList(env.KV, key)).list?.items ?? []
      expect(items.map((i) => i.slug)).not.toContain('older-story-0')
      for (const item of items) expect(item.summary, item.slug).not.toBe('')
    }
    const second = await reached({ monthsPerTick: 1 })
    const third = await reached({ monthsPerTick: 1 })
    expect(second.pending).toBeGreaterThan(0)
    expect(third.pending).toBe(0)
    expect(await archived('2025-04')).toEqual(['second-older-story-0'])
    expect(await archived('2025-02')).toEqual(['second-older-story-1'])
    expect(await listed()).not.toContain('older-story-0')
    expect(await listed()).not.toContain('older-story-1')
    // What a full rebuild makes: nothing left to write.
    expect((await refresh()).listsWritten).toBe(0)
  })

  it('builds the listing from catalog entries saved before the split, reading no article', async () => {
    // The stored layout of before: shards of format 1 (an object of entries by slug), each
    // entry holding its id and summary.
    const { catalog } = await loadJobState(env.KV)
    for (let i = 0; i < CATALOG_SHARDS; i++) {
      const shard: Record<string, object> = {}
      for (const [slug, entry] of catalog) {
        if (shardOf(slug) !== i) continue
        shard[slug] = { ...entry, id: `legacy-${slug}`, summary: `Saved before: ${slug}` }
      }
      await env.KV.put(keys.catalog(i), JSON.stringify(shard))
    }
    for (const key of await listingKeys()) await env.KV.delete(key)
    await refresh({ incrementalAbove: 0 })
    const { articles } = await listAll(100)
    expect(articles).toHaveLength(ALL.length)
    for (const a of articles) {
      expect(a.id).toBe(`legacy-${a.slug}`)
      expect(a.summary).toBe(`Saved before: ${a.slug}`)
    }
  })

  it('keeps an embargoed story in its month, hidden from the API until its time', async () => {
    const embargoed = { ...fixture('drone-attacks-before-call'), slug: 'embargoed-story' }
    await publish({ ...embargoed, publishedAt: '2099-01-01T00:00:00Z' })
    await refresh({ incrementalAbove: 0 })
    const index = JSON.parse((await env.KV.get(keys.listingIndex)) ?? '{}')
    expect(index.months[0]).toEqual(['2099-01', 1])
    const month = JSON.parse((await env.KV.get(keys.listingMonth('2099-01'))) ?? '{}')
    expect(month.entries.map((e: { slug: string }) => e.slug)).toEqual(['embargoed-story'])
    const { articles } = await listAll(2)
    expect(articles.map((a) => a.slug)).toEqual([...ALL].sort(newestFirst).map((a) => a.slug))
  })

  it('writes a month the write budget left at the next tick', async () => {
    await publish({ ...fixture('drone-attacks-before-call'), summary: 'Budget-bound summary.' })
    // The budget is spent before the listing step (the related index and the like are not
    // involved: the change marker's delete is the job's last write).
    const first = await refresh({ writeBudget: 0 })
    expect(first.pending).toBeGreaterThan(0)
    const listed = async () =>
      (await listAll(100)).articles.find((a) => a.slug === 'drone-attacks-before-call')?.summary
    expect(await listed()).toBe(fixture('drone-attacks-before-call').summary)
    await refresh()
    expect(await listed()).toBe('Budget-bound summary.')
  })
})
