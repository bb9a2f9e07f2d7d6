// The refresh job's listing step: the listing months a tick touches are brought in line with
// the catalog, and the months whose summaries the story lists it rebuilds show are read. Each
// story's listing entry comes from the article read this tick, else from its month's stored
// value when that holds the catalog's version, else from fields saved with the catalog before
// summaries moved out, else from the article read again now (a lost or stale month).
import { type ArticleRecord, getArticles } from '../storage/articles'
import type { CatalogEntry } from '../storage/job-state'
import {
  type ListingEntry,
  type ListingState,
  listingEntry,
  listingMonth,
  loadListing,
  releaseMonth,
  storedCounts,
  storedEntries,
} from '../storage/listing'

/** Listing months read per binding call (and held as text at once). */
const MONTHS_PER_READ = 3

export interface ListingSync {
  state: ListingState
  /** stories per month, over the whole catalog (embargoed ones included): the index's counts */
  counts: Map<string, number>
  /** the summary a list item shows (read for every month `months` named; else undefined) */
  summaryOf: (e: CatalogEntry) => string | undefined
}

/**
 * Reads the index and the given months, plus every month when the index is missing and each
 * month whose count in it differs from the catalog's, and rebuilds their entries from the
 * catalog: `byMonth` (the published stories, as the job grouped them) and `unpublished` (the
 * rest). `fresh` holds the records this tick read.
 */
export async function syncListing(
  kv: KVNamespace,
  opts: {
    byMonth: ReadonlyMap<string, readonly CatalogEntry[]>
    unpublished: readonly CatalogEntry[]
    fresh: ReadonlyMap<string, ArticleRecord>
    legacy: ReadonlyMap<string, { id: string; summary: string }>
    months: Iterable<string>
    /** months not to read this tick (their stories wait for the next), whatever else names them */
    later?: ReadonlySet<string>
    /**
     * Called after each few months read with those of them done with (changed, none of their
     * stories to read again), to write them at once (takeMonthWrite) rather than hold them all.
     */
    flush?: (state: ListingState, months: string[]) => Promise<void>
  },
): Promise<ListingSync> {
  const { fresh, legacy } = opts
  // The job's groups are shared with the lists: only the months with an embargoed story are
  // copied to add it.
  const byMonth = new Map<string, readonly CatalogEntry[]>(opts.byMonth)
  const later = new Map<string, CatalogEntry[]>()
  for (const e of opts.unpublished) {
    const month = listingMonth(e.publishedAt)
    const inMonth = later.get(month)
    if (inMonth) inMonth.push(e)
    else later.set(month, [e])
  }
  for (const [month, entries] of later)
    byMonth.set(month, [...(byMonth.get(month) ?? []), ...entries])
  const counts = new Map([...byMonth].map(([m, entries]) => [m, entries.length]))
  const state = await loadListing(kv, [])
  // A lost index, or a count that disagrees with the catalog: those months are read and healed.
  const stored = storedCounts(state)
  const months = new Set([...counts.keys(), ...(stored?.keys() ?? [])])
  const off = [...months].filter((m) => !stored || stored.get(m) !== counts.get(m))
  const toRead = [...new Set([...opts.months, ...off])].filter((m) => !opts.later?.has(m)).sort()

  // A few months at a time: read, parse, compare with the catalog, keep the summaries. Only the
  // months that may be written keep their entries and stored bytes (at 100k articles a busy tick
  // reads eleven months of 1.8 MB, twice that in memory, for their summaries and writes one).
  const summaries = new Map<string, string>()
  const stale: Array<{ slug: string; month: string }> = []
  const staleMonths = new Set<string>()
  const settle = (month: string) => {
    const entries = storedEntries(state, month)
    const next = new Map<string, ListingEntry>()
    let same = true
    let hasStale = false
    for (const e of byMonth.get(month) ?? []) {
      const record = fresh.get(e.slug)
      const known = entries.get(e.slug)
      const old = legacy.get(e.slug)
      let entry: ListingEntry | undefined
      if (record?.stored.state === 'live' && record.hash === e.hash) {
        // Taken from the same bytes as the stored entry when the hashes agree: the same entry.
        entry = known?.h === e.hash ? known : listingEntry(record.stored.article, e.hash)
      } else if (known && known.h === e.hash) {
        entry = known
      } else if (old) {
        const { slug, title, publishedAt, updatedAt, themes, hash } = e
        entry = { slug, ...old, title, publishedAt, updatedAt, themes, h: hash }
      } else {
        stale.push({ slug: e.slug, month })
        hasStale = true
        entry = known
      }
      if (entry) {
        next.set(e.slug, entry)
        summaries.set(e.slug, entry.summary)
      }
      if (entry !== known) same = false
    }
    if (!same || next.size !== entries.size) state.changed.add(month)
    if (hasStale) staleMonths.add(month)
    if (state.changed.has(month) || hasStale) state.months.set(month, next)
    else releaseMonth(state, month)
  }
  for (let i = 0; i < toRead.length; i += MONTHS_PER_READ) {
    const batch = toRead.slice(i, i + MONTHS_PER_READ)
    await loadListing(kv, batch, state)
    for (const month of batch) settle(month)
    const done = batch.filter((m) => state.changed.has(m) && !staleMonths.has(m))
    if (opts.flush && done.length > 0) await opts.flush(state, done)
  }
  const reread = await getArticles(
    kv,
    stale.map((s) => s.slug),
  )
  for (const { slug, month } of stale) {
    const record = reread.get(slug)
    if (record?.stored.state !== 'live' || record.hash === null) continue
    const entry = listingEntry(record.stored.article, record.hash)
    // An article edited into another month since the catalog saw it waits for its change marker:
    // a month holds only its own stories.
    if (listingMonth(entry.publishedAt) !== month) continue
    state.months.get(month)?.set(slug, entry)
    summaries.set(slug, entry.summary)
    state.changed.add(month)
  }
  // Each slug is in one month of the catalog, so the summaries need no month.
  const summaryOf = (e: CatalogEntry) => summaries.get(e.slug)
  return { state, counts, summaryOf }
}
