// Every KV key the project uses, in one place. The `v1:` prefix lets a new layout live beside
// this one during a migration (write v2, switch readers, delete v1).
const P = 'v1'

/** Number of catalog/corpus shards: each shard is one KV value, read together in one bulk get. */
export const CATALOG_SHARDS = 16

export const keys = {
  /** One article record (JSON), with `{ h, u }` metadata so a listing shows changes unread. */
  article: (slug: string) => `${P}:article:${slug}`,
  articlePrefix: `${P}:article:`,
  /** A per-write change marker; the refresh job lists, processes and deletes them. */
  change: (slug: string, stamp: string) => `${P}:change:${slug}:${stamp}`,
  changePrefix: `${P}:change:`,
  /** The related list of one article (written by the refresh job only). */
  related: (slug: string) => `${P}:related:${slug}`,
  /** The capped latest-stories list behind `/` and `/page/N`. */
  latest: `${P}:list:latest`,
  /** The capped list of one theme. */
  theme: (slug: string) => `${P}:list:theme:${slug}`,
  /** Every story of one month (`2025-05`), for the archive pages. */
  month: (month: string) => `${P}:list:month:${month}`,
  /** Every theme with its display name and story count (site navigation). */
  themes: `${P}:list:themes`,
  /** A pre-rendered document (feed, sitemap) at a site path, identity or gzip coding. */
  document: (coding: 'identity' | 'gzip', path: string) => `${P}:doc:${coding}:${path}`,
  documentPrefix: (coding: 'identity' | 'gzip') => `${P}:doc:${coding}:`,
  /** What the last refresh tick did (served by /api/status). */
  status: `${P}:status`,
  /** The refresh job's own state: the listing cursor and when the last full pass ended. */
  jobState: `${P}:job:state`,
  /**
   * Catalog shard n: what the job reads of every article each tick (title, dates, themes, hashes;
   * refresh job only). Summaries and ids live in the listing months.
   */
  catalog: (shard: number) => `${P}:job:catalog:${shard}`,
  /** The listing of one publication month (`2025-05`): its stories as GET /api/articles shows them. */
  listingMonth: (month: string) => `${P}:job:listing:${month}`,
  /** The months the listing holds, newest first, with their story counts. */
  listingIndex: `${P}:job:listing-index`,
  /** What changed in the catalog and corpus since their shards were written (refresh job only). */
  jobDelta: `${P}:job:delta`,
  /** Corpus shard n: the related engine's vectors of every article (refresh job only). */
  corpus: (shard: number) => `${P}:job:corpus:${shard}`,
  /** The stored related index of large sites: which generation is current (refresh job only). */
  relatedMeta: `${P}:job:related:meta`,
  /** Vectors of stories changed since that generation was built (refresh job only). */
  relatedOverlay: `${P}:job:related:overlay`,
  /** Document-table chunk n and term part n of one generation of the stored related index. */
  relatedChunk: (gen: string, n: number) => `${P}:job:relgen:${gen}:docs:${n}`,
  relatedPart: (gen: string, n: number) => `${P}:job:relgen:${gen}:part:${n}`,
  /** The terms of part n found in one document only (read for the terms of added documents). */
  relatedRare: (gen: string, n: number) => `${P}:job:relgen:${gen}:rare:${n}`,
  relatedGenPrefix: (gen: string) => `${P}:job:relgen:${gen}:`,
  relatedGensPrefix: `${P}:job:relgen:`,
  /**
   * What one slice of a build of the related index in slices wrote for the next (a shard's table
   * and runs, a group's merged terms, the sums of squares): `table:3`, `run:3:7`, `merged:7`,
   * `sumsq`. Deleted once the build is done or dropped.
   */
  relatedBuild: (gen: string, name: string) => `${P}:job:relbuild:${gen}:${name}`,
  relatedBuildPrefix: (gen: string) => `${P}:job:relbuild:${gen}:`,
  relatedBuildsPrefix: `${P}:job:relbuild:`,
} as const

/** The slug inside an article key, or null for any other key. */
export function slugOfArticleKey(key: string): string | null {
  return key.startsWith(keys.articlePrefix) ? key.slice(keys.articlePrefix.length) : null
}

/** The slug inside a change-marker key. */
export function slugOfChangeKey(key: string): string | null {
  if (!key.startsWith(keys.changePrefix)) return null
  const rest = key.slice(keys.changePrefix.length)
  const colon = rest.lastIndexOf(':')
  return colon > 0 ? rest.slice(0, colon) : null
}

/**
 * How shardOf places slugs, as each catalog shard records it: the job trusts a shard's rows to be
 * its own without hashing each slug again when the shard names this placement. Change it with
 * shardOf or CATALOG_SHARDS.
 */
export const SHARD_PLACEMENT = `fnv1a/${CATALOG_SHARDS}`

/** Which catalog shard holds a slug (FNV-1a, stable across runtimes). */
export function shardOf(slug: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < slug.length; i++) {
    h ^= slug.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % CATALOG_SHARDS
}
