// The refresh job's own memory: a catalog of what every tick needs of each article and the related
// engine's vectors, sharded over a few KV values and read in one bulk get. Only the job touches
// these keys; a lost or corrupt shard is rebuilt from the articles by the next full pass (D1).
// A tick writes what changed to one small delta value instead of re-encoding every shard (at
// 100k articles the shards are 106 M characters of JSON: 88.6 M of vectors, 17.5 M of catalog);
// each busy tick then folds the delta's largest shard back into it. A tick that changed nothing
// folds nothing and writes nothing.
import type { Theme } from '../model/article'
import { sortedNewest } from '../model/story-order'
import type { ShardInfo } from '../related/sliced-build'
import { asciiJson } from './ascii-json'
import { getMany } from './bulk-get'
import { CATALOG_SHARDS, keys, SHARD_PLACEMENT, shardOf } from './keys'

/**
 * What the job remembers of one article: enough to plan every list and build the related lists
 * without reading it. Summaries and ids are in the listing months (storage/listing.ts), read
 * only for the months a tick touches.
 */
export interface CatalogEntry {
  slug: string
  title: string
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
  /**
   * true while the engine's vector is older than `hash`: the tick's change step sets it, the
   * related step clears it once it has vectorized the article. The two steps can run in cron
   * invocations of their own (RELATED_CRON), and a flag in the entry, unlike a list handed from
   * one to the other, heals with the entry when overlapping invocations lose a save (D4).
   */
  vectorStale?: true
  /**
   * true while the vector is new and the related step has not yet ranked the lists it reaches:
   * an invocation that makes vectors without the related step (the documents part of a site
   * that builds its stored index in slices) sets it, and the related step takes such a story as
   * one it vectorized itself. In the entry, as vectorStale is, so that it heals with the entry.
   */
  vectorUnranked?: true
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
  /** offset of the next slice re-ranked against a newly built stored index (large sites) */
  rerankOffset: number
  /** set when job state was lost: derived lists wait until a full pass has rebuilt the catalog */
  rebuilding: boolean
  /** related lists an incremental tick had to leave (write budget, rank cap), ranked next tick */
  relatedPending: string[]
  /** what the related lists were last ranked against (see relatedBasis in the refresh job) */
  relatedBasis: string
  /** lists re-ranked against that basis since it last changed; all of them: nothing to rank */
  relatedVerified: number
  /** the related index being built in slices, a few a tick (large sites); null when none */
  relatedBuild: RelatedBuild | null
  /** set when a build finished or was dropped: values of other builds may be left to delete */
  relatedSweep: boolean
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
  /**
   * bytesDigest of the stored bytes of each story list the verification slice, or a tick that
   * built every list, last found sound, until the job writes that list for another reason: the
   * slice then checks such a list without building it. (Hashes kept before bytesDigest were
   * contentHash's: they match nothing, so each such list is built and compared once, as an
   * unsound one is.)
   */
  listHashes: Record<string, string>
  /**
   * the document settings (formats, site, the themes' archive months and names) every stored
   * document was compared against
   */
  documentsBasis: string
  /** tags of the document groups a tick had to leave (write budget): compared next tick */
  documentsPending: string[]
  /**
   * the catalog's stamp (JobState.stamp) the documents were last compared against: the groups
   * the changes since reach (JobState.reached) are the ones to compare again
   */
  documentsStamp: string
  /**
   * the newest publication time at that comparison: stories published after it were not in the
   * documents (null: compare every group)
   */
  documentsAt: string | null
  /** listing months a tick had to leave (write budget): read and written next tick */
  listingPending: string[]
  /**
   * What the catalog held when an invocation that loaded it saved this cursor: its entries, and
   * those whose vectors wait for the related step (vectorStale or vectorUnranked). The build's
   * own invocation decides from them, and the stored index's head, whether a build is due,
   * without loading the catalog (absent: it loads it). Saved with the catalog it counts, or,
   * after overlapping invocations, with another: a build then starts a tick late or early.
   */
  catalogSize?: number
  vectorsWaiting?: number
  /**
   * What a documents invocation that left nothing to do saw, for the next one to return at once
   * when nothing since can change a document (absent: it loads the catalog). See DocumentsQuiet.
   */
  documentsQuiet?: DocumentsQuiet
}

/**
 * The stored documents as a documents invocation left them, every group planned and stored
 * (nothing deferred, no vector left to make): the next documents invocation returns without the
 * catalog while all three still hold. Each names what it depends on, so no other invocation
 * has to clear it.
 */
export interface DocumentsQuiet {
  /** hash of the document settings and the catalog's stamp (JobState.stamp) then */
  key: string
  /** the paths of the documents planned then, hashed in order: a lost document fails it */
  paths: string
  /** when the same catalog plans other documents (an embargo ends, a month, the news window) */
  until: string
}

function isDocumentsQuiet(v: unknown): v is DocumentsQuiet {
  const q = v as DocumentsQuiet
  return (
    !!q &&
    typeof q.key === 'string' &&
    typeof q.paths === 'string' &&
    typeof q.until === 'string' &&
    !Number.isNaN(Date.parse(q.until))
  )
}

/**
 * Where a build of the related index in slices stands (jobs/build-related.ts): what it has
 * written under its generation so far. Each slice's values are checked against what is recorded
 * here before a later slice uses them, so a save lost to overlapping invocations starts the build
 * again rather than mixing two.
 */
export interface RelatedBuild {
  /** the generation it writes (its intermediate values' keys and its finished index's) */
  gen: string
  /** the engine settings it builds with (configHash in the refresh job) */
  configHash: string
  parts: number
  groups: number
  /**
   * phase 1: each corpus shard's slice once written (null until then); which groups phase 2 has
   * merged the stored sums say, not the cursor (a save lost after them merges a group again)
   */
  shards: Array<ShardInfo | null>
  /** a stored index found unreadable: ranking waits for this build rather than read it again */
  broken?: string
}

function isRelatedBuild(v: unknown): v is RelatedBuild {
  const b = v as RelatedBuild
  return (
    !!b &&
    typeof b.gen === 'string' &&
    typeof b.configHash === 'string' &&
    Number.isInteger(b.parts) &&
    Number.isInteger(b.groups) &&
    Array.isArray(b.shards) &&
    b.shards.length === CATALOG_SHARDS &&
    b.shards.every(
      (s) =>
        s === null ||
        (Number.isInteger(s.count) &&
          typeof s.length === 'number' &&
          typeof s.tag === 'string' &&
          (s.triples === undefined ||
            (Array.isArray(s.triples) && s.triples.every(Number.isInteger)))),
    ) &&
    (b.broken === undefined || typeof b.broken === 'string')
  )
}

/** Everything the job loads at the start of a tick. */
export interface JobState {
  cursor: JobCursor
  catalog: Map<string, CatalogEntry>
  /**
   * engine vectors by slug (opaque to storage): those the delta or this tick changed, plus the
   * shards loaded with ensureCorpus (all of them only when a step needs every vector)
   */
  corpus: Map<string, unknown>
  /** corpus shards loaded into `corpus` */
  corpusLoaded: Set<number>
  /**
   * slugs whose vector in `corpus` is current, or whose absence is (set by the delta, this tick,
   * or a loaded shard); a dirty slug outside it changed only its catalog entry
   */
  vectorKnown: Set<string>
  /**
   * Raw bytes as loaded, to skip writing a value that did not change. Shards are dropped once
   * parsed (SHARD_PARSED): at 100k articles they are 106 M characters of text held for nothing, and
   * a tick writes only the shards it folds, which changed.
   */
  loaded: Map<string, string | null>
  /** true when a shard was missing or unreadable: the job must do a full pass */
  damaged: boolean
  /** slugs whose entry or vector differs from their shard's stored bytes (mark with `touch`) */
  dirty: Set<string>
  /** slugs touched this tick: a tick that touched none folds nothing (an idle tick writes nothing) */
  touched: number
  /**
   * Summaries and ids found in entries saved before they moved to the listing months, by slug:
   * they let the first ticks after that deploy build the months without reading every article.
   */
  legacy: Map<string, { id: string; summary: string }>
  /**
   * Names the catalog's content ('' until a change step first sets it): the change step gives it
   * a new value whenever it changes or removes an entry. It is saved in the delta, with the
   * entries, never in the cursor: an invocation that saves a catalog it loaded before another's
   * change saves that catalog's stamp with it, so the stamp never names a catalog it is not.
   */
  stamp: string
  /**
   * The story lists each of the last stamps' changes reached (null: any list), oldest first, the
   * newest for `stamp`: the documents built from those lists are the ones those changes can
   * alter. Saved with the stamp, so it always describes the catalog it is saved with.
   */
  reached: Reached[]
}

/** A stamp of the catalog and the story-list keys the changes that made it reached (null: all). */
export type Reached = [string, string[] | null]

/** How many stamps JobState.reached keeps: documents compared further back compare every group. */
export const REACHED_KEPT = 16

/** Records that a slug's catalog entry or vector changed (or went), so the save keeps it. */
export function touch(state: JobState, slug: string): void {
  state.dirty.add(slug)
  state.touched++
}

/**
 * What changed since the shards were written: the entry and vector of each slug, null if gone;
 * `v` absent when only the entry changed (the vector in its shard is current).
 */
interface JobDelta {
  version: 1
  entries: Record<string, { c: CatalogEntry | null; v?: unknown | null }>
  /** JobState.stamp (absent when '') */
  stamp?: string
  /** JobState.reached (absent when empty) */
  reached?: Reached[]
}

/** Sets (or, with null, removes) a slug's vector and marks it dirty. */
export function setVector(state: JobState, slug: string, vector: unknown | null): void {
  if (vector === null) state.corpus.delete(slug)
  else state.corpus.set(slug, vector)
  state.vectorKnown.add(slug)
  touch(state, slug)
}

/** The delta is folded into shards down to about this many slugs per tick (bounds its size). */
export const DELTA_MAX_SLUGS = 4000

/** The cursor of a job that has never run (or lost its state). */
export const EMPTY_CURSOR: Readonly<JobCursor> = Object.freeze({
  version: 1,
  cursor: null,
  lastSlug: null,
  verifyOffset: 0,
  rerankOffset: 0,
  rebuilding: false,
  relatedPending: [],
  relatedBasis: '',
  relatedVerified: 0,
  relatedBuild: null,
  relatedSweep: false,
  listsAt: null,
  listsMonths: '',
  listsPending: [],
  listsVerifyOffset: 0,
  listHashes: {},
  documentsBasis: '',
  documentsPending: [],
  documentsStamp: '',
  documentsAt: null,
  listingPending: [],
})

/**
 * One shared array per distinct theme list: at 100k articles the catalog otherwise holds 100k
 * arrays of theme objects for a few dozen distinct lists, which the garbage collector walks on
 * every major collection. Entries never mutate their themes, so sharing is safe.
 */
function themeInterner(): (themes: Theme[]) => Theme[] {
  const seen = new Map<string, Theme[]>()
  return (themes) => {
    const key = themeKey(themes)
    const shared = seen.get(key)
    if (shared) return shared
    seen.set(key, themes)
    return themes
  }
}

function themeKey(themes: Theme[]): string {
  let key = ''
  for (const t of themes) key += `${t.slug}\u0000${t.name}\u0000`
  return key
}

/** A stored JSON object, or null when the text is missing, unreadable or not an object. */
export function parseObject(text: string | null | undefined): Record<string, unknown> | null {
  if (text == null) return null
  try {
    const value = JSON.parse(text)
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null
  } catch {
    return null
  }
}

/**
 * A catalog shard as stored since format 2: one row per entry and the shard's distinct theme
 * lists once: 17.5 M characters at 100k articles against format 1's 31 M (an object per entry,
 * by slug), and rows of plain values parse faster: every tick parses them all. A row is [slug,
 * title, publishedAt, updatedAt (0: the same), theme list, hash, relatedHash] and the related
 * floor when the entry has one, or `"stale"` in its place while the entry's vector is stale (a
 * changed story's floor is unknown until its list is ranked again, after its vector is made), or
 * `"unranked"` while its new vector waits for the related step (vectorUnranked).
 * Rows are newest first (rowOrder); shards written before that are in slug order, and any order
 * reads the same.
 */
interface CatalogShard {
  format: 2
  /**
   * SHARD_PLACEMENT when written (absent before): a load then takes every row as the shard's own
   * instead of hashing 100k slugs a tick (8 to 28 ms in profiles of the +100 tick at 100k)
   */
  placement?: string
  themes: Theme[][]
  entries: CatalogRow[]
}
type CatalogRow = [
  string,
  string,
  string,
  string | 0,
  number,
  string,
  string,
  (number | null | typeof STALE | typeof UNRANKED)?,
]
const STALE = 'stale'
const UNRANKED = 'unranked'

function encodeCatalogShard(entries: Iterable<CatalogEntry>): string {
  const themes: Theme[][] = []
  const themeIds = new Map<string, number>()
  const rows: CatalogRow[] = []
  for (const e of entries) {
    const key = themeKey(e.themes)
    let t = themeIds.get(key)
    if (t === undefined) {
      t = themes.length
      themes.push(e.themes)
      themeIds.set(key, t)
    }
    const row: CatalogRow = [
      e.slug,
      e.title,
      e.publishedAt,
      e.updatedAt === e.publishedAt ? 0 : e.updatedAt,
      t,
      e.hash,
      e.relatedHash ?? '',
    ]
    if (e.vectorStale) row.push(STALE)
    else if (e.vectorUnranked) row.push(UNRANKED)
    else if (e.relatedFloor !== undefined) row.push(e.relatedFloor)
    rows.push(row)
  }
  // ASCII: every tick reads every shard, and one headline past Latin-1 would double its bytes.
  return asciiJson({
    format: 2,
    placement: SHARD_PLACEMENT,
    themes,
    entries: rows,
  } satisfies CatalogShard)
}

/** The entry a format-2 row stands for, or null when the row is not one. */
function catalogRow(row: unknown, themes: Theme[][]): CatalogEntry | null {
  if (!Array.isArray(row) || row.length < 7 || row.length > 8) return null
  const [slug, title, publishedAt, updatedAt, t, hash, relatedHash, floor] = row as CatalogRow
  if (
    typeof slug !== 'string' ||
    typeof title !== 'string' ||
    typeof publishedAt !== 'string' ||
    !(updatedAt === 0 || typeof updatedAt === 'string') ||
    typeof hash !== 'string' ||
    typeof relatedHash !== 'string'
  )
    return null
  const list = themes[t]
  if (!Array.isArray(list)) return null
  const stale = floor === STALE
  const unranked = floor === UNRANKED
  if (row.length === 8 && !(floor === null || typeof floor === 'number' || stale || unranked))
    return null
  // Every entry is made with all ten fields, the floor undefined when it has none: one added
  // later would take an object of its own (100k more for the garbage collector to mark at 100k
  // articles), and entries of two layouts make every read of them slower.
  return {
    slug,
    title,
    publishedAt,
    updatedAt: updatedAt === 0 ? publishedAt : updatedAt,
    themes: list,
    hash,
    relatedHash,
    relatedFloor: stale || unranked ? undefined : floor,
    vectorStale: stale ? true : undefined,
    vectorUnranked: unranked ? true : undefined,
  }
}

function isCatalogEntry(v: unknown): v is CatalogEntry {
  const e = v as CatalogEntry
  return (
    !!e &&
    typeof e.slug === 'string' &&
    typeof e.title === 'string' &&
    typeof e.publishedAt === 'string' &&
    typeof e.hash === 'string' &&
    Array.isArray(e.themes)
  )
}

function parseDelta(text: string | null | undefined): JobDelta | null {
  if (text == null) return { version: 1, entries: {} }
  const value = parseObject(text) as JobDelta | null
  if (value?.version !== 1 || !value.entries || typeof value.entries !== 'object') return null
  return value
}

/** The delta as stored: its entries, and the stamp and what reached it when there are. */
function encodeDelta(entries: JobDelta['entries'], stamp: string, reached: Reached[]): string {
  const delta: JobDelta = { version: 1, entries }
  if (stamp) delta.stamp = stamp
  if (reached.length > 0) delta.reached = reached
  return asciiJson(delta)
}

function isReached(value: unknown): value is Reached {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string') return false
  const tags = value[1]
  return tags === null || (Array.isArray(tags) && tags.every((t) => typeof t === 'string'))
}

// Stands for a shard's bytes once parsed; equal to no encoding, so a folded shard is written.
const SHARD_PARSED = '\u0000parsed'

/**
 * Catalog shards read per binding call. Each is parsed and its text let go before the next call:
 * at 100k articles the 16 shards are 17.5 M characters as rows (31 M in format 1), twice the bytes
 * as soon as one title holds a character outside Latin-1, and reading them all at once held that
 * beside the parsed catalog.
 */
const CATALOG_SHARDS_PER_READ = 4

/**
 * Loads the job state in five binding calls: the cursor and the delta, then the catalog four
 * shards at a time. The engine's vectors stay in their shards until a step needs them
 * (ensureCorpus): at 100k articles they are 85 MB of JSON most ticks never look at.
 */
export async function loadJobState(kv: KVNamespace): Promise<JobState> {
  const loaded = await getMany(kv, [keys.jobState, keys.status, keys.jobDelta])
  const catalog = new Map<string, CatalogEntry>()
  const corpus = new Map<string, unknown>()
  const themes = themeInterner()
  const legacy = new Map<string, { id: string; summary: string }>()
  // Entries saved before summaries and ids moved out keep them until their shard is folded. A
  // copy without them, not `delete`, which turns each entry into a dictionary twice the size.
  const strip = (entry: CatalogEntry & { id?: unknown; summary?: unknown }): CatalogEntry => {
    if (!('id' in entry) && !('summary' in entry)) return entry
    const { id, summary, ...rest } = entry
    if (typeof id === 'string' && typeof summary === 'string')
      legacy.set(entry.slug, { id, summary })
    return rest
  }
  let damaged = false
  for (let i = 0; i < CATALOG_SHARDS; i++) {
    if (i % CATALOG_SHARDS_PER_READ === 0) {
      const batch = Array.from(
        { length: Math.min(CATALOG_SHARDS_PER_READ, CATALOG_SHARDS - i) },
        (_, j) => keys.catalog(i + j),
      )
      for (const [key, text] of await getMany(kv, batch)) loaded.set(key, text)
    }
    const cat = parseObject(loaded.get(keys.catalog(i)))
    if (!cat) damaged = true
    else if (cat.format === 2 && Array.isArray(cat.entries) && Array.isArray(cat.themes)) {
      const lists = (cat.themes as unknown[]).map((l) => (Array.isArray(l) ? themes(l) : l))
      const placed = cat.placement === SHARD_PLACEMENT
      for (const row of cat.entries as unknown[]) {
        const entry = catalogRow(row, lists as Theme[][])
        if (entry && (placed || shardOf(entry.slug) === i)) catalog.set(entry.slug, entry)
        else damaged = true
      }
    } else {
      // Format 1, saved before rows: an object of entries by slug, until the shard is folded.
      for (const slug in cat) {
        const entry = cat[slug]
        if (isCatalogEntry(entry) && shardOf(slug) === i) {
          entry.themes = themes(entry.themes)
          catalog.set(slug, strip(entry))
        } else damaged = true
      }
    }
    if (cat) loaded.set(keys.catalog(i), SHARD_PARSED)
  }
  const dirty = new Set<string>()
  const delta = parseDelta(loaded.get(keys.jobDelta))
  if (!delta) damaged = true
  const stamp = typeof delta?.stamp === 'string' ? delta.stamp : ''
  const reached = Array.isArray(delta?.reached) ? delta.reached.filter(isReached) : []
  const vectorKnown = new Set<string>()
  for (const [slug, entry] of Object.entries(delta?.entries ?? {})) {
    const { c, v } = entry
    dirty.add(slug)
    if (c === null) catalog.delete(slug)
    else if (isCatalogEntry(c) && c.slug === slug) catalog.set(slug, strip(c))
    else damaged = true
    if (!('v' in entry)) continue
    vectorKnown.add(slug)
    if (v === null || v === undefined) corpus.delete(slug)
    else corpus.set(slug, v)
  }
  const saved = parseJobCursor(loaded.get(keys.jobState))
  if (!saved) damaged = true
  return {
    cursor: saved ?? { ...EMPTY_CURSOR, relatedPending: [], listsPending: [] },
    catalog,
    corpus,
    corpusLoaded: new Set(),
    vectorKnown,
    loaded,
    damaged,
    dirty,
    touched: 0,
    legacy,
    stamp,
    reached,
  }
}

/**
 * The stored cursor, its unreadable parts reset to what a first tick finds; null when it is
 * missing or unreadable (the job state is then damaged).
 */
export function parseJobCursor(text: string | null | undefined): JobCursor | null {
  const rawCursor = parseObject(text) as JobCursor | null
  if (rawCursor?.version !== 1) return null
  let cursor: JobCursor = { ...EMPTY_CURSOR, ...rawCursor }
  if (!Array.isArray(cursor.relatedPending)) cursor = { ...cursor, relatedPending: [] }

  if (
    typeof cursor.relatedBasis !== 'string' ||
    typeof cursor.relatedVerified !== 'number' ||
    typeof cursor.rerankOffset !== 'number'
  )
    cursor = { ...cursor, relatedBasis: '', relatedVerified: 0, rerankOffset: 0 }
  // A build whose record is unreadable is dropped; the sweep deletes what it wrote.
  if (cursor.relatedBuild !== null && !isRelatedBuild(cursor.relatedBuild))
    cursor = { ...cursor, relatedBuild: null, relatedSweep: true }
  if (typeof cursor.relatedSweep !== 'boolean') cursor = { ...cursor, relatedSweep: true }
  if (
    !(cursor.listsAt === null || typeof cursor.listsAt === 'string') ||
    typeof cursor.listsMonths !== 'string' ||
    !Array.isArray(cursor.listsPending) ||
    !Array.isArray(cursor.listingPending) ||
    typeof cursor.listsVerifyOffset !== 'number' ||
    typeof cursor.documentsBasis !== 'string' ||
    !Array.isArray(cursor.documentsPending) ||
    typeof cursor.documentsStamp !== 'string' ||
    !(cursor.documentsAt === null || typeof cursor.documentsAt === 'string') ||
    !cursor.listHashes ||
    typeof cursor.listHashes !== 'object' ||
    Array.isArray(cursor.listHashes)
  )
    cursor = {
      ...cursor,
      listsAt: null,
      listsMonths: '',
      listsPending: [],
      listsVerifyOffset: 0,
      listHashes: {},
      documentsBasis: '',
      documentsPending: [],
      documentsStamp: '',
      documentsAt: null,
      listingPending: [],
    }
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0
  if (!count(cursor.catalogSize) || !count(cursor.vectorsWaiting)) {
    const { catalogSize, vectorsWaiting, ...rest } = cursor
    cursor = rest
  }
  if (cursor.documentsQuiet !== undefined && !isDocumentsQuiet(cursor.documentsQuiet)) {
    const { documentsQuiet, ...rest } = cursor
    cursor = rest
  }
  return cursor
}

/** The catalog's stamp a stored delta carries ('' when none; null when the delta is unreadable). */
export function deltaStamp(text: string | null | undefined): string | null {
  const delta = parseDelta(text)
  if (!delta) return null
  return typeof delta.stamp === 'string' ? delta.stamp : ''
}

/**
 * Loads the vectors of the given corpus shards (every shard when none are given) that are not
 * loaded yet, in one bulk get. Vectors this tick or the delta changed are kept as they are.
 */
export async function ensureCorpus(
  kv: KVNamespace,
  state: JobState,
  shards?: Iterable<number>,
  read?: ReadonlyMap<string, string | null>,
): Promise<void> {
  const wanted = [...new Set(shards ?? Array.from({ length: CATALOG_SHARDS }, (_, i) => i))]
    .filter((i) => !state.corpusLoaded.has(i))
    .sort((a, b) => a - b)
  if (wanted.length === 0) return
  // Shards the caller read already are not read again.
  const unread = wanted.map((i) => keys.corpus(i)).filter((key) => !read?.has(key))
  const values = unread.length > 0 ? await getMany(kv, unread) : new Map<string, string | null>()
  for (const [key, text] of read ?? []) values.set(key, text)
  for (const i of wanted) {
    state.corpusLoaded.add(i)
    const key = keys.corpus(i)
    const shard = parseObject(values.get(key))
    if (!shard) {
      // Its vectors are lost: the stories stay listed, and the related step reads each article
      // again and makes its vector (vectorStale). Set in place: steps hold the entries.
      for (const [slug, entry] of state.catalog) {
        if (shardOf(slug) !== i || state.vectorKnown.has(slug) || entry.vectorStale) continue
        entry.vectorStale = true
        entry.relatedFloor = undefined
        state.vectorKnown.add(slug)
        touch(state, slug)
      }
      continue
    }
    for (const slug in shard) {
      if (state.vectorKnown.has(slug)) continue
      state.corpus.set(slug, shard[slug])
      state.vectorKnown.add(slug)
    }
    for (const slug of state.catalog.keys()) {
      if (shardOf(slug) === i) state.vectorKnown.add(slug)
    }
    state.loaded.set(key, SHARD_PARSED)
  }
}

/**
 * A shard's entries newest first, ties by slug: the order every tick walks the published stories
 * in (publishedNewest's). A tick makes the entries in the order of the rows, and V8 keeps objects
 * made one after another together in memory, so walks in that order read memory in 16 runs (one
 * per shard) rather than at random. In profiles of the +100 tick at 100k, ordering the stories
 * took 48 to 50 ms with shards stored newest first against 73 and 84 ms in slug order; ordering
 * and grouping them 100 to 128 ms against 142 and 167 ms (bench/MEASUREMENTS.md).
 */
const rowOrder = sortedNewest<CatalogEntry>

/**
 * A corpus shard's bytes: one JSON object of vectors by slug, in slug order, a line per vector
 * (`{\n"a":{...},\n"b":{...}\n}`; shards written before lines are the same object on one line).
 * A busy tick folds one shard: with lines it keeps the stored line of every vector it did not
 * change (storedCorpusLines) instead of parsing the shard's 6k vectors and encoding them again.
 */
function encodeCorpusShard(lines: string[]): string {
  return lines.length === 0 ? '{}' : `{\n${lines.join(',\n')}\n}`
}

function corpusLine(slug: string, vector: unknown): string {
  return `${JSON.stringify(slug)}:${JSON.stringify(vector)}`
}

/**
 * The stored line of each vector of a corpus shard written in lines, by slug; null for a shard
 * written before lines (or not in their form), which is then parsed whole.
 */
function storedCorpusLines(text: string | null | undefined): Map<string, string> | null {
  if (text == null) return null
  const lines = new Map<string, string>()
  if (text === '{}') return lines
  if (!text.startsWith('{\n') || !text.endsWith('\n}')) return null
  // JSON text holds no raw line break, so `,\n` only ever ends a line.
  for (const line of text.slice(2, -2).split(',\n')) {
    // `"slug":{...}`: a slug holds no quote or backslash; a line that seems to is refused.
    const end = line.indexOf('"', 1)
    if (line.charCodeAt(0) !== 34 || end < 0 || line.charCodeAt(end + 1) !== 58) return null
    const slug = line.slice(1, end)
    if (slug.includes('\\') || lines.has(slug)) return null
    lines.set(slug, line)
  }
  return lines
}

/** Folded shards whose vectors come partly from their stored lines (see encodeShards). */
interface StoredLines {
  /** slugs whose vector in the corpus map is current, or whose absence is */
  known: ReadonlySet<string>
  /** the stored line of each vector, by shard */
  lines: ReadonlyMap<number, ReadonlyMap<string, string>>
}

function encodeShards(
  shards: Iterable<number>,
  catalog: ReadonlyMap<string, CatalogEntry>,
  corpus: ReadonlyMap<string, unknown>,
  out: Map<string, string>,
  stored?: StoredLines,
) {
  const wanted = new Set(shards)
  if (wanted.size === 0) return
  const cats = new Map<number, CatalogEntry[]>()
  const cors = new Map<number, string[]>()
  for (const i of wanted) {
    cats.set(i, [])
    cors.set(i, [])
  }
  // Sorted so the same catalog always gives the same bytes (and no spurious writes); only the
  // folded shards' slugs, as a busy tick folds one of 16.
  const slugs: Array<{ slug: string; shard: number }> = []
  for (const slug of catalog.keys()) {
    const shard = shardOf(slug)
    if (wanted.has(shard)) slugs.push({ slug, shard })
  }
  slugs.sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0))
  for (const { slug, shard } of slugs) {
    ;(cats.get(shard) as CatalogEntry[]).push(catalog.get(slug) as CatalogEntry)
    // A stored line is the bytes corpusLine gave its vector: the same as encoding it again.
    const line = stored?.lines.get(shard)
    if (line && !stored?.known.has(slug)) {
      const kept = line.get(slug)
      if (kept !== undefined) (cors.get(shard) as string[]).push(kept)
    } else if (corpus.has(slug)) {
      ;(cors.get(shard) as string[]).push(corpusLine(slug, corpus.get(slug)))
    }
  }
  for (const i of wanted) {
    out.set(keys.catalog(i), encodeCatalogShard(rowOrder(cats.get(i) ?? [])))
    out.set(keys.corpus(i), encodeCorpusShard(cors.get(i) ?? []))
  }
}

/**
 * The bytes each job key should hold for a given catalog, corpus and cursor: every shard whole
 * and an empty delta (a full write: seeding, or a state with no shards to fold into).
 */
export function encodeJobState(
  cursor: JobCursor,
  catalog: ReadonlyMap<string, CatalogEntry>,
  corpus: ReadonlyMap<string, unknown>,
  stamp = '',
  reached: Reached[] = [],
): Map<string, string> {
  const out = new Map<string, string>([[keys.jobState, JSON.stringify(cursor)]])
  encodeShards(
    Array.from({ length: CATALOG_SHARDS }, (_, i) => i),
    catalog,
    corpus,
    out,
  )
  out.set(keys.jobDelta, encodeDelta({}, stamp, reached))
  return out
}

/**
 * The bytes of a tick's save: the cursor, the delta of every dirty slug, and the shards folded
 * this tick (the one with most dirty slugs, then more while over DELTA_MAX_SLUGS, all of them
 * when the state was damaged; none when the tick touched nothing, so an idle tick writes
 * nothing and the delta waits for the next busy one). Folded slugs leave the delta and `dirty`.
 * The corpus shards folded are loaded first (one bulk get).
 */
export async function encodeJobChanges(
  kv: KVNamespace,
  state: JobState,
  cursor: JobCursor,
  {
    maxSlugs = DELTA_MAX_SLUGS,
    foldOne = true,
    holdRemoved = false,
  }: {
    /** the delta's bound, in slugs */
    maxSlugs?: number
    /**
     * false: fold a shard only when the delta is past maxSlugs. An invocation whose changes a
     * later one reads (the vectors the documents part makes for the related part) leaves them
     * in the delta, which every tick reads whole, rather than in a 5 MB corpus shard that tick
     * would have to load for them.
     */
    foldOne?: boolean
    /**
     * true in an invocation without the related step: a shard holding the vector of a story
     * gone from the catalog is not folded (unless the delta is past maxSlugs), since folding
     * keeps only the catalog's vectors and the related step looks for the lists that held such
     * a story by its old vector (without a stored index to find it in).
     */
    holdRemoved?: boolean
  } = {},
): Promise<Map<string, string>> {
  const { catalog, corpus, dirty } = state
  const out = new Map<string, string>([[keys.jobState, JSON.stringify(cursor)]])
  if (state.damaged) {
    await ensureCorpus(kv, state)
    for (const [k, v] of encodeJobState(cursor, catalog, corpus, state.stamp, state.reached)) {
      out.set(k, v)
    }
    dirty.clear()
    return out
  }
  const perShard = new Map<number, string[]>()
  for (const slug of dirty) {
    const shard = shardOf(slug)
    const list = perShard.get(shard)
    if (list) list.push(slug)
    else perShard.set(shard, [slug])
  }
  const order = [...perShard].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])
  const folded: number[] = []
  let left = dirty.size
  // A story gone from the catalog whose vector no step has dropped yet (setVector null).
  const removed = (slug: string) =>
    !catalog.has(slug) && !(state.vectorKnown.has(slug) && !corpus.has(slug))
  for (const [shard, slugs] of order) {
    if (state.touched === 0 || ((folded.length > 0 || !foldOne) && left <= maxSlugs)) break
    if (holdRemoved && left <= maxSlugs && slugs.some(removed)) continue
    folded.push(shard)
    left -= slugs.length
  }
  // A folded shard stored in lines keeps the lines of the vectors this tick and the delta did not
  // change; any other is loaded whole. Loading a shard's 6k vectors and encoding them again took
  // 38 and 41 ms of the +100 tick at 100k articles in profiles; keeping the lines, 11 to 18 ms.
  const lines = new Map<number, ReadonlyMap<string, string>>()
  const unread = folded.filter((i) => !state.corpusLoaded.has(i))
  const texts =
    unread.length > 0
      ? await getMany(kv, unread.map(keys.corpus))
      : new Map<string, string | null>()
  for (const i of unread) {
    const stored = storedCorpusLines(texts.get(keys.corpus(i)))
    if (stored) {
      lines.set(i, stored)
      state.loaded.set(keys.corpus(i), texts.get(keys.corpus(i)) as string)
    }
  }
  await ensureCorpus(
    kv,
    state,
    folded.filter((i) => !lines.has(i)),
    texts,
  )
  for (const shard of folded) {
    for (const slug of perShard.get(shard) ?? []) dirty.delete(slug)
  }
  encodeShards(folded, catalog, corpus, out, { known: state.vectorKnown, lines })
  const entries: JobDelta['entries'] = {}
  for (const slug of [...dirty].sort()) {
    const c = catalog.get(slug) ?? null
    entries[slug] = state.vectorKnown.has(slug) ? { c, v: corpus.get(slug) ?? null } : { c }
  }
  out.set(keys.jobDelta, encodeDelta(entries, state.stamp, state.reached))
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
