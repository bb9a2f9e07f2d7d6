// The public article listing (GET /api/articles), kept by publication month apart from the job's
// catalog. The catalog is read whole on every tick; at 100k articles summaries and ids were half
// of its 64 MB and most of its heap, yet a tick shows only the summaries of the lists it rebuilds.
// So each month's stories live in one value of their own, which a tick reads only when it touches
// that month (a changed story, a list it rebuilds), and a small index names the months.
// Only the refresh job writes these keys (D1); a lost or stale month is rebuilt from the catalog
// and the articles the next time a tick touches it.
import type { Article, Theme } from '../model/article'
import { sortedNewest } from '../model/story-order'
import { asciiJson } from './ascii-json'
import { getMany } from './bulk-get'
import { parseObject } from './job-state'
import { keys } from './keys'

/** One story as the listing shows it. */
export interface ListingEntry {
  slug: string
  id: string
  title: string
  summary: string
  publishedAt: string
  updatedAt: string
  themes: Theme[]
  /** content hash of the article record it was taken from (the catalog holds the current one) */
  h: string
}

interface ListingMonthValue {
  version: 1
  month: string
  /** newest first, ties by slug (D5): the listing pages through it by offset */
  entries: ListingEntry[]
}

interface ListingIndexValue {
  version: 1
  /** every month with a story (embargoed ones included), newest first, with its story count */
  months: Array<[string, number]>
}

/** The UTC month (`2025-05`) a story is listed under: the first seven characters of its time. */
export function listingMonth(publishedAt: string): string {
  return publishedAt.slice(0, 7)
}

/** What the listing shows of an article whose stored bytes hash to `hash`. */
export function listingEntry(article: Article, hash: string): ListingEntry {
  return {
    slug: article.slug,
    id: article.id,
    title: article.title,
    summary: article.summary,
    publishedAt: article.publishedAt,
    updatedAt: article.updatedAt,
    themes: article.themes,
    h: hash,
  }
}

function isListingEntry(v: unknown): v is ListingEntry {
  const e = v as ListingEntry
  return (
    !!e &&
    typeof e.slug === 'string' &&
    typeof e.id === 'string' &&
    typeof e.title === 'string' &&
    typeof e.summary === 'string' &&
    typeof e.publishedAt === 'string' &&
    typeof e.updatedAt === 'string' &&
    typeof e.h === 'string' &&
    Array.isArray(e.themes)
  )
}

/** A stored month's entries (newest first), or null when missing, unreadable or of another month. */
function parseMonth(text: string | null | undefined, month: string): ListingEntry[] | null {
  const value = parseObject(text) as ListingMonthValue | null
  if (value?.version !== 1 || value.month !== month || !Array.isArray(value.entries)) return null
  for (const e of value.entries) {
    if (!isListingEntry(e) || listingMonth(e.publishedAt) !== month) return null
  }
  return value.entries
}

/** What a month's value holds before its entries, which encodeListingMonth writes a line each. */
function monthHead(month: string): string {
  return `{"version":1,"month":${JSON.stringify(month)},"entries":[`
}

/**
 * The line of each entry of a stored month written in lines (`head\n{...},\n{...}\n]}`), in
 * the entries' order; null for a month written otherwise (before lines, or not by this code),
 * whose entries are then encoded again. JSON text holds no raw line break, so `,\n` only ever
 * ends a line.
 */
function monthLines(text: string, month: string, count: number): string[] | null {
  const head = `${monthHead(month)}\n`
  if (count === 0 || !text.startsWith(head) || !text.endsWith('\n]}')) return null
  const lines = text.slice(head.length, -3).split(',\n')
  return lines.length === count ? lines : null
}

/** The stored index's months, newest first, or null when missing or unreadable. */
function parseIndex(text: string | null | undefined): Array<[string, number]> | null {
  const value = parseObject(text) as ListingIndexValue | null
  if (value?.version !== 1 || !Array.isArray(value.months)) return null
  const ok = value.months.every(
    (m) => Array.isArray(m) && typeof m[0] === 'string' && typeof m[1] === 'number',
  )
  return ok ? value.months : null
}

/**
 * The bytes of one month's value (entries sorted, so equal contents give equal bytes): JSON with
 * a line per entry, each line `asciiJson(entry)`. `lines` holds the stored line of entries read
 * from a month in lines, which is the line they encode to: a tick that removes or edits one story
 * of a past month (3,000 stories at 100k articles) encodes that one rather than the 1.8 MB again.
 */
export function encodeListingMonth(
  month: string,
  entries: Iterable<ListingEntry>,
  lines?: ReadonlyMap<ListingEntry, string>,
): string {
  const sorted = sortedNewest(entries)
  // ASCII: a tick reads the months it touches (1.8 MB each at 100k articles), the listing API too.
  const body = sorted.map((e) => lines?.get(e) ?? asciiJson(e)).join(',\n')
  return `${monthHead(month)}\n${body}\n]}`
}

/** The bytes of the index for the given story count per month. */
export function encodeListingIndex(counts: ReadonlyMap<string, number>): string {
  const months = [...counts].sort((a, b) => (a[0] < b[0] ? 1 : -1))
  return JSON.stringify({ version: 1, months } satisfies ListingIndexValue)
}

/** Every listing value for the given entries, by key: the months and the index (seeding). */
export function encodeListing(entries: Iterable<ListingEntry>): Map<string, string> {
  const byMonth = new Map<string, ListingEntry[]>()
  for (const e of entries) {
    const month = listingMonth(e.publishedAt)
    const inMonth = byMonth.get(month)
    if (inMonth) inMonth.push(e)
    else byMonth.set(month, [e])
  }
  const out = new Map<string, string>()
  for (const [month, inMonth] of byMonth)
    out.set(keys.listingMonth(month), encodeListingMonth(month, inMonth))
  const counts = new Map([...byMonth].map(([m, inMonth]) => [m, inMonth.length]))
  out.set(keys.listingIndex, encodeListingIndex(counts))
  return out
}

/** The refresh job's working copy of the months it read this tick. */
export interface ListingState {
  /** months read this tick (their stored bytes in `stored` until the job is done with them) */
  read: Set<string>
  /** by month: the entries the job set, for the months it may write */
  months: Map<string, Map<string, ListingEntry>>
  /** stored bytes by key (the index and each month read), to write only what changed */
  stored: Map<string, string | null>
  /** months whose entries the job changed, or whose stored bytes were unreadable: to encode */
  changed: Set<string>
  /**
   * by month: the stored line of each entry read from a month in lines (encodeListingMonth),
   * until the month is written or released (a map per month, not one weak map: at 100k articles
   * a tick removing stories over the whole site reads 33 months, 100k entries)
   */
  lines: Map<string, Map<ListingEntry, string>>
}

/**
 * Reads the index and the given months not read yet, in one bulk get (per 100 keys). Months are
 * parsed one at a time by storedEntries, so a tick never holds every month it read as objects.
 */
export async function loadListing(
  kv: KVNamespace,
  months: Iterable<string>,
  state: ListingState = {
    read: new Set(),
    months: new Map(),
    stored: new Map(),
    changed: new Set(),
    lines: new Map(),
  },
): Promise<ListingState> {
  const wanted = [...new Set(months)].filter((m) => !state.read.has(m)).sort()
  const names = wanted.map((m) => keys.listingMonth(m))
  if (!state.stored.has(keys.listingIndex)) names.unshift(keys.listingIndex)
  if (names.length === 0) return state
  const values = await getMany(kv, names)
  for (const [key, text] of values) state.stored.set(key, text)
  for (const month of wanted) state.read.add(month)
  return state
}

/**
 * A month's stored entries by slug (empty when missing or unreadable; an unreadable month is
 * marked changed, so it is written again).
 */
export function storedEntries(state: ListingState, month: string): Map<string, ListingEntry> {
  const text = state.stored.get(keys.listingMonth(month))
  const entries = parseMonth(text, month)
  if (!entries && text != null) state.changed.add(month)
  const lines = entries && monthLines(text as string, month, entries.length)
  if (lines) state.lines.set(month, new Map(entries.map((e, i) => [e, lines[i] as string])))
  return new Map((entries ?? []).map((e) => [e.slug, e]))
}

/** Lets go of a month's stored bytes once the job knows it will not write that month. */
export function releaseMonth(state: ListingState, month: string): void {
  state.stored.delete(keys.listingMonth(month))
  state.lines.delete(month)
}

/** The story count per month the stored index gives (read with loadListing), null if unreadable. */
export function storedCounts(state: ListingState): Map<string, number> | null {
  const months = parseIndex(state.stored.get(keys.listingIndex))
  return months ? new Map(months) : null
}

/** One write of the listing: a month's bytes (null deletes a month left empty), or the index's. */
export interface ListingWrite {
  key: string
  bytes: string | null
  month?: string
}

/**
 * The write of one month marked changed, or null when its entries encode to its stored bytes;
 * either way the month is done with: its stored bytes, entries and lines are let go, so that a
 * tick touching every month (removals spread over the site) holds a few at a time, not all of
 * them (at 100k articles 33 months of 1.8 MB, their 100k entries and their new bytes).
 */
export function takeMonthWrite(state: ListingState, month: string): ListingWrite | null {
  if (!state.changed.has(month)) return null
  state.changed.delete(month)
  const entries = state.months.get(month) ?? new Map<string, ListingEntry>()
  const key = keys.listingMonth(month)
  const bytes =
    entries.size > 0 ? encodeListingMonth(month, entries.values(), state.lines.get(month)) : null
  const same = (state.stored.get(key) ?? null) === bytes
  state.months.delete(month)
  state.lines.delete(month)
  state.stored.delete(key)
  return same ? null : { key, bytes, month }
}

/**
 * The listing's other writes: each month still marked changed whose entries now differ from its
 * stored bytes (takeMonthWrite), then the index for `counts` (stories per month, all of them).
 * Months read but not changed are not encoded again: a tick reads several for their summaries.
 */
export function* listingWrites(
  state: ListingState,
  counts: ReadonlyMap<string, number>,
): Generator<ListingWrite> {
  for (const month of [...state.changed]) {
    const write = takeMonthWrite(state, month)
    if (write) yield write
  }
  const index = encodeListingIndex(counts)
  if ((state.stored.get(keys.listingIndex) ?? null) !== index) {
    yield { key: keys.listingIndex, bytes: index }
  }
}

/** One page of GET /api/articles: stories newest first, and the cursor of the next page. */
export interface ListingPage {
  entries: Array<Omit<ListingEntry, 'h'>>
  cursor: string | null
}

/** A page reads at most this many months (one bulk get). */
const MONTHS_PER_PAGE = 100

/**
 * Pages through the listing newest first (current within one refresh tick, D2) in two binding
 * calls: the index, then the months the page spans. The cursor is `<month>.<offset>`; a month
 * emptied since the cursor was given continues with the next older one.
 */
export async function getListingPage(
  kv: KVNamespace,
  cursor: string | null,
  limit: number,
): Promise<ListingPage | null> {
  const match = cursor === null ? null : /^(\d{4}-\d{2})\.(\d{1,7})$/.exec(cursor)
  if (cursor !== null && !match) return null
  const index = parseIndex(await kv.get(keys.listingIndex, 'text')) ?? []
  const from = match ? (match[1] as string) : null
  let offset = match ? Number(match[2]) : 0
  let first = from === null ? 0 : index.findIndex(([m]) => m <= from)
  if (first < 0) first = index.length
  if (from !== null && index[first]?.[0] !== from) offset = 0
  // The months the page spans, by the index's counts (a stale count only shortens a page).
  const span: string[] = []
  let room = limit + offset
  for (let i = first; i < index.length && room > 0 && span.length < MONTHS_PER_PAGE; i++) {
    const [month, count] = index[i] as [string, number]
    span.push(month)
    room -= count
  }
  if (span.length === 0) return { entries: [], cursor: null }
  const values = await getMany(
    kv,
    span.map((m) => keys.listingMonth(m)),
  )
  const entries: ListingPage['entries'] = []
  let i = 0
  for (const month of span) {
    i++
    const inMonth = parseMonth(values.get(keys.listingMonth(month)), month) ?? []
    const take = inMonth.slice(offset, offset + limit - entries.length)
    entries.push(...take.map(({ h: _h, ...e }) => e))
    if (offset + take.length < inMonth.length) {
      return { entries, cursor: `${month}.${offset + take.length}` }
    }
    offset = 0
    if (entries.length >= limit) break
  }
  const next = index[first + i]
  return { entries, cursor: next ? `${next[0]}.0` : null }
}
