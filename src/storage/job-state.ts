// The refresh job's own memory: a catalog of every article's list fields and the related
// engine's vectors, sharded over a few KV values and read in one bulk get. Only the job touches
// these keys; a lost or corrupt shard is rebuilt from the articles by the next full pass (D1).
import type { Theme } from '../model/article'
import { getMany } from './bulk-get'
import { CATALOG_SHARDS, keys, shardOf } from './keys'

/** What the job remembers of one article: enough to build every list without reading it. */
export interface CatalogEntry {
  slug: string
  id: string
  title: string
  summary: string
  publishedAt: string
  updatedAt: string
  themes: Theme[]
  /** content hash of the stored article record */
  hash: string
  /** hash of the related list last written for it ('' when none yet) */
  relatedHash: string
  /**
   * lowest score in its related list when the list is full, null when it is shorter; absent
   * until ranked. The incremental related step compares a changed story's scores with it.
   */
  relatedFloor?: number | null
}

/** Cursor state of the job's rolling full pass over the article keys. */
export interface JobCursor {
  version: 1
  /** list() cursor of the next slice of the full pass (null: start a new pass) */
  cursor: string | null
  /** last slug covered by the previous slice: bounds the key range checked for removals */
  lastSlug: string | null
  /** offset of the next related-list verification slice */
  verifyOffset: number
  /** set when job state was lost: derived lists wait until a full pass has rebuilt the catalog */
  rebuilding: boolean
  /** related lists an incremental tick had to leave (write budget, rank cap), ranked next tick */
  relatedPending: string[]
  /** what the related lists were last ranked against (see relatedBasis in the refresh job) */
  relatedBasis: string
  /** lists re-ranked against that basis since it last changed; all of them: nothing to rank */
  relatedVerified: number
  /**
   * The newest publication time the story lists held when last brought current (null: rebuild
   * them all). Large sites then rebuild only the lists a change, or a story published after it
   * (out of embargo, no change marker), can reach.
   */
  listsAt: string | null
  /** the months every story list names, as of listsAt: a new or emptied month touches all lists */
  listsMonths: string
  /** story-list keys a tick had to leave (write budget): rebuilt next tick */
  listsPending: string[]
  /** offset of the next story-list verification slice (heals a lost or corrupt list) */
  listsVerifyOffset: number
}

/** Everything the job loads at the start of a tick. */
export interface JobState {
  cursor: JobCursor
  catalog: Map<string, CatalogEntry>
  /** engine vectors by slug (opaque to storage) */
  corpus: Map<string, unknown>
  /** raw bytes as loaded, to write back only the shards that changed */
  loaded: Map<string, string | null>
  /** true when a shard was missing or unreadable: the job must do a full pass */
  damaged: boolean
}

/** The cursor of a job that has never run (or lost its state). */
export const EMPTY_CURSOR: Readonly<JobCursor> = Object.freeze({
  version: 1,
  cursor: null,
  lastSlug: null,
  verifyOffset: 0,
  rebuilding: false,
  relatedPending: [],
  relatedBasis: '',
  relatedVerified: 0,
  listsAt: null,
  listsMonths: '',
  listsPending: [],
  listsVerifyOffset: 0,
})

function shardKeys(): string[] {
  const out: string[] = []
  for (let i = 0; i < CATALOG_SHARDS; i++) out.push(keys.catalog(i), keys.corpus(i))
  return out
}

function parseShard(text: string | null | undefined): Record<string, unknown> | null {
  if (text == null) return null
  try {
    const value = JSON.parse(text)
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null
  } catch {
    return null
  }
}

function isCatalogEntry(v: unknown): v is CatalogEntry {
  const e = v as CatalogEntry
  return (
    !!e &&
    typeof e.slug === 'string' &&
    typeof e.id === 'string' &&
    typeof e.title === 'string' &&
    typeof e.publishedAt === 'string' &&
    typeof e.hash === 'string' &&
    Array.isArray(e.themes)
  )
}

/** Loads the job state in one binding call (more only when its values pass 25 MB in all). */
export async function loadJobState(kv: KVNamespace): Promise<JobState> {
  const allKeys = [keys.jobState, keys.status, ...shardKeys()]
  const values = await getMany(kv, allKeys)
  const loaded = new Map<string, string | null>(allKeys.map((k) => [k, values.get(k) ?? null]))
  const catalog = new Map<string, CatalogEntry>()
  const corpus = new Map<string, unknown>()
  let damaged = false
  for (let i = 0; i < CATALOG_SHARDS; i++) {
    const cat = parseShard(loaded.get(keys.catalog(i)))
    const cor = parseShard(loaded.get(keys.corpus(i)))
    if (!cat || !cor) damaged = true
    for (const [slug, entry] of Object.entries(cat ?? {})) {
      if (isCatalogEntry(entry) && shardOf(slug) === i) catalog.set(slug, entry)
      else damaged = true
    }
    for (const [slug, vector] of Object.entries(cor ?? {})) corpus.set(slug, vector)
  }
  let cursor: JobCursor = { ...EMPTY_CURSOR, relatedPending: [], listsPending: [] }
  const rawCursor = parseShard(loaded.get(keys.jobState)) as JobCursor | null
  if (rawCursor && rawCursor.version === 1) cursor = { ...EMPTY_CURSOR, ...rawCursor }
  else damaged = true
  if (!Array.isArray(cursor.relatedPending)) cursor = { ...cursor, relatedPending: [] }
  if (typeof cursor.relatedBasis !== 'string' || typeof cursor.relatedVerified !== 'number')
    cursor = { ...cursor, relatedBasis: '', relatedVerified: 0 }
  if (
    !(cursor.listsAt === null || typeof cursor.listsAt === 'string') ||
    typeof cursor.listsMonths !== 'string' ||
    !Array.isArray(cursor.listsPending) ||
    typeof cursor.listsVerifyOffset !== 'number'
  )
    cursor = { ...cursor, listsAt: null, listsMonths: '', listsPending: [], listsVerifyOffset: 0 }
  return { cursor, catalog, corpus, loaded, damaged }
}

/** The bytes each job key should hold for a given catalog, corpus and cursor. */
export function encodeJobState(
  cursor: JobCursor,
  catalog: ReadonlyMap<string, CatalogEntry>,
  corpus: ReadonlyMap<string, unknown>,
): Map<string, string> {
  const cats: Array<Record<string, CatalogEntry>> = []
  const cors: Array<Record<string, unknown>> = []
  for (let i = 0; i < CATALOG_SHARDS; i++) {
    cats.push({})
    cors.push({})
  }
  // Sorted so the same catalog always gives the same bytes (and no spurious writes).
  for (const slug of [...catalog.keys()].sort()) {
    const shard = shardOf(slug)
    ;(cats[shard] as Record<string, CatalogEntry>)[slug] = catalog.get(slug) as CatalogEntry
    if (corpus.has(slug)) (cors[shard] as Record<string, unknown>)[slug] = corpus.get(slug)
  }
  const out = new Map<string, string>([[keys.jobState, JSON.stringify(cursor)]])
  for (let i = 0; i < CATALOG_SHARDS; i++) {
    out.set(keys.catalog(i), JSON.stringify(cats[i]))
    out.set(keys.corpus(i), JSON.stringify(cors[i]))
  }
  return out
}

/** Writes the job keys whose bytes changed; returns how many writes it made. */
export async function saveJobState(
  kv: KVNamespace,
  state: JobState,
  next: Map<string, string>,
): Promise<number> {
  let writes = 0
  for (const [key, bytes] of next) {
    if (state.loaded.get(key) === bytes) continue
    await kv.put(key, bytes)
    state.loaded.set(key, bytes)
    writes++
  }
  return writes
}

/** One page of the article listing served by GET /api/articles, read from the job's catalog. */
export interface ArticleListingPage {
  entries: Array<Omit<CatalogEntry, 'relatedFloor'>>
  cursor: string | null
}

const SHARDS_PER_PAGE = 4

/**
 * Pages through the catalog (current within one refresh tick, D2) without list(): the cursor
 * is `<shard>.<offset>`, and one page reads at most four shards in one bulk get.
 */
export async function getArticleListing(
  kv: KVNamespace,
  cursor: string | null,
  limit: number,
): Promise<ArticleListingPage | null> {
  const match = /^(\d{1,3})\.(\d{1,7})$/.exec(cursor ?? '0.0')
  if (!match) return null
  let shard = Number(match[1])
  let offset = Number(match[2])
  if (shard >= CATALOG_SHARDS) return null
  const span = Array.from({ length: SHARDS_PER_PAGE }, (_, i) => shard + i).filter(
    (s) => s < CATALOG_SHARDS,
  )
  const values = await kv.get(
    span.map((s) => keys.catalog(s)),
    'text',
  )
  const entries: Array<Omit<CatalogEntry, 'relatedFloor'>> = []
  for (const s of span) {
    const shardEntries = Object.values(parseShard(values.get(keys.catalog(s))) ?? {})
      .filter(isCatalogEntry)
      .sort((a, b) => (a.slug < b.slug ? -1 : 1))
    // The related floor is the job's bookkeeping, not part of the public listing.
    const take = shardEntries
      .slice(offset, offset + limit - entries.length)
      .map(({ relatedFloor: _f, ...entry }) => entry)
    entries.push(...take)
    if (offset + take.length < shardEntries.length) {
      return { entries, cursor: `${s}.${offset + take.length}` }
    }
    shard = s + 1
    offset = 0
    if (entries.length >= limit) break
  }
  return { entries, cursor: shard < CATALOG_SHARDS ? `${shard}.0` : null }
}
