// Pure: from the catalog and the time, the exact value every story-list key should hold.
// Publishing changes a bounded set of keys: the capped latest list, its themes' lists, one month.

import type { Theme } from '../model/article'
import { sameWidthUtc, utcMillis } from '../model/utc-time'
import { ContentHasher, contentHash } from '../storage/content-hash'
import type { ListItem, StoryList, ThemeIndex } from '../storage/indexes'
import type { CatalogEntry } from '../storage/job-state'
import { keys } from '../storage/keys'
import { listingMonth } from '../storage/listing'

/** How many stories the latest list and each theme list keep; older ones live in month archives. */
export interface ListCaps {
  latest: number
  theme: number
}

export const DEFAULT_LIST_CAPS: ListCaps = { latest: 500, theme: 500 }

/**
 * The published entries at `now`, newest first (byNewest's order). Each date is parsed once, digit
 * by digit (utcMillis; sorting 100k entries with byNewest parses 3.4M dates, about 1.4 s). Dates
 * in whole seconds (as stored) sort as numbers packing the age and the position, with the
 * engine's native numeric sort and no comparator calls (a comparator sort of 100k positions took
 * about 150 ms in workerd); runs of equal dates are then put in slug order. Entries published
 * after `now` go to `later`, when given.
 */
export function publishedNewest<T extends { publishedAt: string; slug: string }>(
  entries: Iterable<T>,
  now: string,
  later?: T[],
): T[] {
  const nowMs = utcMillis(now)
  const kept: T[] = []
  const times: number[] = []
  let whole = true
  let oldest = Number.POSITIVE_INFINITY
  let newest = Number.NEGATIVE_INFINITY
  for (const e of entries) {
    const t = utcMillis(e.publishedAt)
    if (t <= nowMs) {
      kept.push(e)
      times.push(t)
      if (t % 1000 !== 0) whole = false
      if (t < oldest) oldest = t
      if (t > newest) newest = t
    } else later?.push(e)
  }
  const n = kept.length
  const slot = 2 ** Math.max(1, Math.ceil(Math.log2(n + 1)))
  // Packed keys stay exact integers below 2^53.
  const packable = whole && ((newest - oldest) / 1000 + 1) * slot < 2 ** 53
  const order = new Uint32Array(n)
  if (packable) {
    const key = new Float64Array(n)
    for (let i = 0; i < n; i++) key[i] = ((newest - (times[i] as number)) / 1000) * slot + i
    key.sort()
    for (let i = 0; i < n; i++) order[i] = (key[i] as number) % slot
  } else {
    for (let i = 0; i < n; i++) order[i] = i
    const time = Float64Array.from(times)
    order.sort((a, b) => (time[b] as number) - (time[a] as number))
  }
  // Equal dates: slug order (D5).
  const bySlug = (a: number, b: number) => {
    const sa = (kept[a] as T).slug
    const sb = (kept[b] as T).slug
    return sa < sb ? -1 : sa > sb ? 1 : 0
  }
  for (let i = 0; i < n; ) {
    let j = i + 1
    const t = times[order[i] as number]
    while (j < n && times[order[j] as number] === t) j++
    if (j - i > 1) order.subarray(i, j).sort(bySlug)
    i = j
  }
  const out = new Array<T>(n)
  for (let i = 0; i < n; i++) out[i] = kept[order[i] as number] as T
  return out
}

/** The UTC month (`2025-05`) an article is archived under: the listing's month too. */
export const monthOf = listingMonth

/** One theme's published stories, newest first, and the same stories by month. */
export interface ThemeGroup {
  /** the theme as its newest story names it */
  theme: Theme
  entries: CatalogEntry[]
  /** months newest first, as `entries` gives them */
  byMonth: Map<string, CatalogEntry[]>
  /** its newest change (`entries`), for the sitemaps */
  changed: GroupChange
}

/**
 * The newest change (update time) in a group of entries, found while grouping them, as long as
 * every time in the group compares as text: each update time has the width of the group's first
 * publication time, in UTC with a four-digit year (the sitemaps' walk for it took 25 to 33 ms of
 * a +100 tick at 100k articles: a second pass over every entry, now in hand here). Otherwise
 * `uniform` is false and the sitemaps compare the group's times as instants.
 */
export interface GroupChange {
  /** the greater of the first publication time and every update time, as text */
  at: string
  width: number
  uniform: boolean
}

function groupChange(first: CatalogEntry): GroupChange {
  const at = first.publishedAt
  return { at, width: at.length, uniform: sameWidthUtc(at) }
}

/**
 * The published entries grouped once per tick by month and by theme (each group newest first,
 * as `published` is): lists, feeds and sitemaps all group the same entries, and at 100k articles
 * each grouping walk costs about 0.1 s.
 */
export interface PublishedGroups {
  /** months with a published story, newest first */
  months: string[]
  byMonth: Map<string, CatalogEntry[]>
  /** each month's newest change (`byMonth`), for the sitemaps */
  monthChanged: Map<string, GroupChange>
  /** by theme slug */
  byTheme: Map<string, ThemeGroup>
}

/** Groups the published entries (newest first, as publishedNewest gives them). */
export function groupPublished(published: readonly CatalogEntry[]): PublishedGroups {
  const byMonth = new Map<string, CatalogEntry[]>()
  const monthChanged = new Map<string, GroupChange>()
  const byTheme = new Map<string, ThemeGroup>()
  let month = ''
  let inMonth: CatalogEntry[] = []
  let monthChange: GroupChange = { at: '', width: 0, uniform: false }
  for (const e of published) {
    // Newest first, a month's stories mostly come together: its key is cut once per run of them
    // rather than once per story (a 100k catalog's theme feeds cut 100k more).
    if (month === '' || !e.publishedAt.startsWith(month)) {
      month = monthOf(e.publishedAt)
      const known = byMonth.get(month)
      if (known) {
        inMonth = known
        monthChange = monthChanged.get(month) as GroupChange
      } else {
        inMonth = []
        byMonth.set(month, inMonth)
        monthChange = groupChange(e)
        monthChanged.set(month, monthChange)
      }
    }
    inMonth.push(e)
    // sameWidthUtc for the update time, inlined, its width compared with each group's below.
    const u = e.updatedAt
    const utc =
      u.charCodeAt(u.length - 1) === 90 && u.charCodeAt(4) === 45 && u.charCodeAt(0) !== 43
    if (monthChange.uniform) {
      if (!utc || u.length !== monthChange.width) monthChange.uniform = false
      else if (u > monthChange.at) monthChange.at = u
    }
    for (const t of e.themes) {
      let group = byTheme.get(t.slug)
      if (!group) {
        group = { theme: t, entries: [], byMonth: new Map(), changed: groupChange(e) }
        byTheme.set(t.slug, group)
      }
      group.entries.push(e)
      const themeMonth = group.byMonth.get(month)
      if (themeMonth) themeMonth.push(e)
      else group.byMonth.set(month, [e])
      const changed = group.changed
      if (changed.uniform) {
        if (!utc || u.length !== changed.width) changed.uniform = false
        else if (u > changed.at) changed.at = u
      }
    }
  }
  return { months: [...byMonth.keys()], byMonth, monthChanged, byTheme }
}

/**
 * A list item's summary: the catalog does not hold them (storage/listing.ts). `listKey` names the
 * list being built, whose stored items may hold the summaries (storedSummaries).
 */
export type SummaryOf = (e: CatalogEntry, listKey: string) => string

/**
 * A story list's source hash: what its items were built from (each story's stored bytes, by
 * hash) rather than the items' own JSON. The same changes move it, and a month archive at 100k
 * stories is about 1.8 MB of JSON to hash against 60 KB of slugs and hashes. The hash is that of
 * `JSON.stringify([total, months, extra, shown])`, `shown` holding `slug hash` of each story
 * shown, fed to the hasher in pieces rather than built: a month archive shows thousands.
 */
function listSource(
  total: number,
  months: unknown,
  extra: object,
  slugs: readonly string[],
  hashes: readonly string[],
): string {
  // The array's first three elements as JSON.stringify writes them in it (an absent `months` of a
  // damaged stored list as null), then `shown`.
  const h = new ContentHasher().add(JSON.stringify([total, months, extra]).slice(0, -1)).add(',[')
  for (let i = 0; i < slugs.length; i++) {
    const slug = slugs[i] as string
    const hash = hashes[i] as string
    if (i > 0) h.add(',')
    if (NEEDS_JSON_ESCAPE.test(slug) || NEEDS_JSON_ESCAPE.test(hash)) {
      h.add(JSON.stringify(`${slug} ${hash}`))
    } else h.add('"').add(slug).add(' ').add(hash).add('"')
  }
  return h.add(']]').digest()
}

// Characters JSON.stringify writes as escapes. It escapes only lone surrogates: a text with a
// pair takes the slow path too, which writes the pair as it is.
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * The summaries a stored story list shows, by slug, when its source hash proves that every item
 * was built from the story version `hashOf` names; null when the bytes do not parse or an item
 * is of another version (then its summaries must come from the listing months).
 */
export function storedSummaries(
  bytes: string | null | undefined,
  hashOf: (slug: string) => string | undefined,
): Map<string, string> | null {
  if (!bytes) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes)
  } catch {
    return null
  }
  if (!parsed || typeof parsed !== 'object') return null
  // The stored key order is storyList's: version, source, then the body, then `extra`.
  const { version, source, total, items, months, ...extra } = parsed as Record<string, unknown>
  if (typeof source !== 'string' || typeof total !== 'number' || !Array.isArray(items)) return null
  const slugs: string[] = []
  const hashes: string[] = []
  const out = new Map<string, string>()
  for (const item of items as Array<{ slug?: unknown; summary?: unknown } | null>) {
    const slug = item?.slug
    const summary = item?.summary
    if (typeof slug !== 'string' || typeof summary !== 'string') return null
    const hash = hashOf(slug)
    if (hash === undefined) return null
    slugs.push(slug)
    hashes.push(hash)
    out.set(slug, summary)
  }
  return version === 1 && listSource(total, months, extra, slugs, hashes) === source ? out : null
}

/** What one story list is built from: its stories (newest first), how many it shows, the rest. */
interface StorySpec {
  entries: CatalogEntry[]
  cap: number
  months: string[]
  extra: Partial<StoryList>
}

/** The source hash storyList gives these stories, without building their items. */
function storySource({ entries, cap, months, extra }: StorySpec): string {
  const shown = Math.min(cap, entries.length)
  const slugs = new Array<string>(shown)
  const hashes = new Array<string>(shown)
  for (let i = 0; i < shown; i++) {
    const e = entries[i] as CatalogEntry
    slugs[i] = e.slug
    hashes[i] = e.hash
  }
  return listSource(entries.length, months, extra, slugs, hashes)
}

function storyList(key: string, spec: StorySpec, summaryOf: SummaryOf) {
  const { entries, cap, months, extra } = spec
  const kept = entries.slice(0, cap).map(
    (e): ListItem => ({
      slug: e.slug,
      title: e.title,
      summary: summaryOf(e, key),
      publishedAt: e.publishedAt,
      themes: e.themes,
    }),
  )
  const body = { total: entries.length, items: kept, months, ...extra }
  const value: StoryList = { version: 1, source: storySource(spec), ...body }
  return value
}

/**
 * Every story list the grouped entries imply (the theme index aside), keyed by KV key, in
 * buildLists' order: the latest list, the theme lists by slug, the month archives newest first.
 */
function storySpecs(
  published: CatalogEntry[],
  caps: ListCaps,
  groups: PublishedGroups,
): Map<string, StorySpec> {
  const { months, byMonth, byTheme } = groups
  const specs = new Map<string, StorySpec>()
  specs.set(keys.latest, { entries: published, cap: caps.latest, months, extra: {} })
  for (const slug of [...byTheme.keys()].sort()) {
    const g = byTheme.get(slug) as ThemeGroup
    specs.set(keys.theme(slug), {
      entries: g.entries,
      cap: caps.theme,
      months: [...g.byMonth.keys()],
      extra: { theme: { slug, name: g.theme.name } },
    })
  }
  for (const [month, inMonth] of byMonth) {
    specs.set(keys.month(month), {
      entries: inMonth,
      cap: Number.MAX_SAFE_INTEGER,
      months,
      extra: { month },
    })
  }
  return specs
}

/**
 * The source hash of each story list `wanted` names as buildLists would build it (null: the list
 * should not exist), without its items: the job checks a stored list's source against it.
 */
export function storyListSources(
  published: CatalogEntry[],
  wanted: Iterable<string>,
  caps: ListCaps,
  groups: PublishedGroups,
): Map<string, string | null> {
  const specs = storySpecs(published, caps, groups)
  const out = new Map<string, string | null>()
  for (const key of wanted) {
    const spec = specs.get(key)
    out.set(key, spec ? storySource(spec) : null)
  }
  return out
}

/** The keys of every story list the grouped entries imply, without building them. */
export function listKeysOf(groups: PublishedGroups): string[] {
  return [
    keys.latest,
    keys.themes,
    ...groups.months.map((m) => keys.month(m)),
    ...[...groups.byTheme.keys()].map((slug) => keys.theme(slug)),
  ].sort()
}

/** The list keys an entry appears in when published: the latest list, its themes and month. */
export function listKeysOfEntry(e: CatalogEntry): string[] {
  return [
    keys.latest,
    keys.themes,
    keys.month(monthOf(e.publishedAt)),
    ...e.themes.map((t) => keys.theme(t.slug)),
  ]
}

/**
 * The months whose stories buildLists shows with the same arguments: the summaries to read
 * before building (a latest or theme list shows its newest `cap` stories, an archive its month).
 * A story whose summary `known` has for that list needs no month.
 */
export function monthsShown(
  published: CatalogEntry[],
  caps: ListCaps = DEFAULT_LIST_CAPS,
  only: (key: string) => boolean = () => true,
  groups: PublishedGroups = groupPublished(published),
  known: (e: CatalogEntry, listKey: string) => boolean = () => false,
): Set<string> {
  const months = new Set<string>()
  const add = (key: string, entries: CatalogEntry[], cap: number) => {
    for (let i = 0; i < Math.min(cap, entries.length); i++) {
      const e = entries[i] as CatalogEntry
      if (!known(e, key)) months.add(monthOf(e.publishedAt))
    }
  }
  if (only(keys.latest)) add(keys.latest, published, caps.latest)
  for (const [slug, g] of groups.byTheme) {
    const key = keys.theme(slug)
    if (only(key)) add(key, g.entries, caps.theme)
  }
  for (const month of groups.months) if (only(keys.month(month))) months.add(month)
  return months
}

/**
 * Every derived list value for the published entries (newest first, as publishedNewest gives
 * them): the latest list, the theme index, one list per theme and one archive per month. Keyed
 * by KV key. With `only`, just the keys it accepts are built (grouping is cheap; items, JSON and
 * hashes are not). Summaries come from `summaryOf` (for the months monthsShown names).
 */
export function buildLists(
  published: CatalogEntry[],
  summaryOf: SummaryOf,
  caps: ListCaps = DEFAULT_LIST_CAPS,
  only: (key: string) => boolean = () => true,
  groups: PublishedGroups = groupPublished(published),
): Map<string, StoryList | ThemeIndex> {
  const out = new Map<string, StoryList | ThemeIndex>()
  const specs = storySpecs(published, caps, groups)
  const latest = specs.get(keys.latest) as StorySpec
  if (only(keys.latest)) out.set(keys.latest, storyList(keys.latest, latest, summaryOf))

  if (only(keys.themes)) {
    const themesBody = {
      themes: [...groups.byTheme.keys()].sort().map((slug) => {
        const g = groups.byTheme.get(slug) as ThemeGroup
        return { slug, name: g.theme.name, count: g.entries.length }
      }),
    }
    out.set(keys.themes, {
      version: 1,
      source: contentHash(JSON.stringify(themesBody)),
      ...themesBody,
    })
  }
  for (const [key, spec] of specs) {
    if (key !== keys.latest && only(key)) out.set(key, storyList(key, spec, summaryOf))
  }
  return out
}

/** The list keys a stored latest list and theme index imply (to delete the ones now empty). */
export function impliedListKeys(latest: StoryList | null, themes: ThemeIndex | null): string[] {
  return [
    ...(latest?.months ?? []).map((m) => keys.month(m)),
    ...(themes?.themes ?? []).map((t) => keys.theme(t.slug)),
  ]
}
