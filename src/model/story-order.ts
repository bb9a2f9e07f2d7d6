// The order the site lists stories in (D5): newest first, ties by slug, so pages, stored values
// and tests are deterministic.
import { utcMillis } from './utc-time'

interface Dated {
  publishedAt: string
  slug: string
}

function bySlug(a: Dated, b: Dated): number {
  return a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0
}

/** Newest first, ties by slug: a comparator for sorting a few stories. */
export function byNewest(a: Dated, b: Dated): number {
  const d = utcMillis(b.publishedAt) - utcMillis(a.publishedAt)
  return d !== 0 ? d : bySlug(a, b)
}

/**
 * A copy of `entries` in byNewest's order, each time parsed once rather than at every comparison
 * (thousands of stories: a listing month, a catalog shard). A time that does not parse sorts by
 * slug among its neighbours.
 */
export function sortedNewest<T extends Dated>(entries: Iterable<T>): T[] {
  const dated = Array.from(entries, (e) => ({ t: utcMillis(e.publishedAt), e }))
  dated.sort((a, b) => b.t - a.t || bySlug(a.e, b.e))
  return dated.map((d) => d.e)
}
