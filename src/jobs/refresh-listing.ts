// The refresh job's listing step: the listing months a tick touches are brought in line with
// the catalog, and the months whose summaries the story lists it rebuilds show are read. Each
// story's listing entry comes from the article read this tick, else from its month's stored
// value when that holds the catalog's version, else from fields saved with the catalog before
// summaries moved out, else from the article read again now (a lost or stale month).

import type { ArticleRecord } from '../storage/articles'
import { getArticles } from '../storage/articles'
import type { CatalogEntry } from '../storage/job-state'
import {
  type ListingEntry,
  type ListingState,
  listingEntry,
  listingMonth,
  loadListing,
  storedCounts,
} from '../storage/listing'

export interface ListingSync {
  state: ListingState
  /** stories per month, over the whole catalog (embargoed ones included): the index's counts */
  counts: Map<string, number>
  /** the summary a list item shows (read for every month `months` named) */
  summaryOf: (e: CatalogEntry) => string
  /** articles read again because their month's stored entry was missing or stale */
  reread: number
}

/**
 * Reads the index and the given months, plus every month when the index is missing and each
 * month whose count in it differs from the catalog's, and rebuilds their entries from the
 * catalog. `fresh` holds the records this tick read.
 */
export async function syncListing(
  kv: KVNamespace,
  opts: {
    catalog: ReadonlyMap<string, CatalogEntry>
    fresh: ReadonlyMap<string, ArticleRecord>
    legacy: ReadonlyMap<string, { id: string; summary: string }>
    months: Iterable<string>
  },
): Promise<ListingSync> {
  const { catalog, fresh, legacy } = opts
  const byMonth = new Map<string, CatalogEntry[]>()
  for (const e of catalog.values()) {
    const month = listingMonth(e.publishedAt)
    const inMonth = byMonth.get(month)
    if (inMonth) inMonth.push(e)
    else byMonth.set(month, [e])
  }
  const counts = new Map([...byMonth].map(([m, entries]) => [m, entries.length]))
  const state = await loadListing(kv, opts.months)
  // A lost index, or a count that disagrees with the catalog: those months are read and healed.
  const stored = storedCounts(state)
  const months = new Set([...counts.keys(), ...(stored?.keys() ?? [])])
  const off = [...months].filter((m) => !stored || stored.get(m) !== counts.get(m))
  await loadListing(kv, off, state)

  const stale: string[] = []
  for (const [month, entries] of state.months) {
    const next = new Map<string, ListingEntry>()
    for (const e of byMonth.get(month) ?? []) {
      const record = fresh.get(e.slug)
      const known = entries.get(e.slug)
      const old = legacy.get(e.slug)
      if (record?.stored.state === 'live' && record.hash === e.hash) {
        next.set(e.slug, listingEntry(record.stored.article, e.hash))
      } else if (known && known.h === e.hash) {
        next.set(e.slug, known)
      } else if (old) {
        const { slug, title, publishedAt, updatedAt, themes, hash } = e
        next.set(slug, { slug, ...old, title, publishedAt, updatedAt, themes, h: hash })
      } else {
        stale.push(e.slug)
        if (known) next.set(e.slug, known)
      }
    }
    state.months.set(month, next)
  }
  for (const [slug, record] of await getArticles(kv, stale)) {
    if (record.stored.state !== 'live' || record.hash === null) continue
    const entry = listingEntry(record.stored.article, record.hash)
    // An article edited into another month since the catalog saw it waits for its change marker:
    // a month holds only its own stories.
    const month = listingMonth(catalog.get(slug)?.publishedAt ?? '')
    if (listingMonth(entry.publishedAt) === month) state.months.get(month)?.set(slug, entry)
  }
  const summaryOf = (e: CatalogEntry) =>
    state.months.get(listingMonth(e.publishedAt))?.get(e.slug)?.summary ?? ''
  return { state, counts, summaryOf, reread: stale.length }
}
