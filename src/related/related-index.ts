// The in-memory corpus index: flat typed arrays (forward vectors and inverted postings) built once
// per full pass, plus a small overlay for documents added or removed by incremental ticks.
// Documents are numbered in the order they are added; nothing depends on that order (ties break
// by slug), so stored vectors can be streamed in shard by shard.
import { utcMillis } from '../model/utc-time.ts'
import { decodeBytes } from './codec.ts'
import { type RelatedConfig, resolveConfig } from './config.ts'
import { type DocVector, unpackHashes } from './doc-vector.ts'

const DAY_MS = 86_400_000
const TERM_BYTES = 5
const WEIGHT_SCALE = 40
const NO_THEMES: readonly string[] = Object.freeze([])
const NONE = 0xffffffff

/** Document numbers by slug: what an index reads and updates of its slugs' positions. */
export interface SlugPositions {
  get(slug: string): number | undefined
  has(slug: string): boolean
  set(slug: string, d: number): unknown
  delete(slug: string): boolean
}

/**
 * Positions over a base table's map that an index updates without changing it: the job assembles
 * an index from one stored table up to twice a tick, and a copy of the map each time was 100k
 * entries at 100k articles. Changes (an added slug, a removed one) stay in a small map of their own.
 */
export class LayeredPositions implements SlugPositions {
  private readonly changes = new Map<string, number | undefined>()
  constructor(private readonly base: ReadonlyMap<string, number>) {}
  get(slug: string): number | undefined {
    return this.changes.has(slug) ? this.changes.get(slug) : this.base.get(slug)
  }
  has(slug: string): boolean {
    return this.get(slug) !== undefined
  }
  set(slug: string, d: number): this {
    this.changes.set(slug, d)
    return this
  }
  delete(slug: string): boolean {
    const had = this.has(slug)
    this.changes.set(slug, undefined)
    return had
  }
}

/** Everything ranking needs, built from all stored vectors; base documents numbered as added. */
export interface RelatedIndex {
  config: RelatedConfig
  /** Slug of each document number (base documents first, incremental additions after). */
  slugs: string[]
  /** Document number of each live slug. */
  position: SlugPositions
  /**
   * Publication day of each document (NaN when unparseable). Typed, as is `themeIds`: ranking
   * reads both for thousands of candidates per query, at random; at 100k articles a plain array
   * of small integers takes twice the memory (and cache) of a Uint32Array in Node.
   */
  days: Float64Array
  /**
   * Number of each document's sorted theme list in `themeLists`, so ranking compares integers;
   * as narrow as the number of lists allows (`themeIdArray`).
   */
  themeIds: ThemeIds
  /** Each distinct theme list once, by number; `themeIdOf` maps its `\n`-joined key back. */
  themeLists: Array<readonly string[]>
  themeIdOf: Map<string, number>
  /** Near-duplicate sketches of base documents, flat: document d owns sketchStart[d..d+1]. */
  sketchData: Uint32Array
  sketchStart: Uint32Array
  /** Sketches of documents added by incremental updates. */
  addedSketches: Map<number, Uint32Array>
  /** Sorted hashes of the terms seen by the full build, and their inverse document frequency. */
  vocab: Uint32Array
  idf: Float64Array
  df: Uint32Array
  /** Forward vectors of base documents: dense term ids and unit weights. */
  fStart: Uint32Array
  fTerm: Uint32Array
  fWeight: Float32Array
  /**
   * Where each base document's shared terms end: the terms with postings other base documents
   * are in come first in its forward vector (in their order), so a query with nothing added
   * to the index stops there instead of looking up terms that can only find itself.
   */
  fShared: Uint32Array
  /**
   * Inverted postings of base documents per dense term (frequent terms left out, see maxDf):
   * posting j of iStart[t]..iStart[t + 1] is the document iPost[2j] with the weight
   * iPostWeight[2j + 1], a view of the same buffer. Each document beside its weight, so a term's
   * postings are one run of memory, not two: at 100k articles they are far larger than the cache.
   */
  iStart: Uint32Array
  iPost: Uint32Array
  iPostWeight: Float32Array
  /** Terms in more documents than this are left out of the postings (cost control). */
  maxDf: number
  /** Average field-weighted length, fixed at the full build. */
  avgLength: number
  /** Number of base documents. */
  baseCount: number
  /** Overlay: forward vectors of added documents, by document number. */
  added: Map<number, AddedDoc>
  /** Overlay: postings of added documents per term id, as [doc, weight] pairs. */
  addedPostings: Map<number, number[]>
  /** Overlay: ids for terms first seen after the full build. */
  newTerms: Map<number, number>
  /** Documents removed or replaced since the full build. */
  removed: Set<number>
  /** Reusable score accumulator, one slot per document number. */
  scratch: Float64Array
}

/** A document added by `updateIndex`: its forward vector and the scale that made it unit length. */
export interface AddedDoc {
  terms: number[]
  weights: number[]
  /** 1 / the norm of its weights before scaling: fixed by the corpus statistics of the build */
  scale: number
  /**
   * Added with a known scale (`updateIndex`'s `scales`), without the terms this index lacks:
   * a candidate of queries, never a query itself (its vector is partial).
   */
  candidateOnly: boolean
}

/** Theme-list numbers of documents, one byte each while there are at most 256 lists. */
export type ThemeIds = Uint8Array | Uint16Array | Uint32Array

/**
 * An array for `length` documents' theme-list numbers below `lists`, of the narrowest width that
 * holds them. Ranking reads a candidate's number at random for each of the thousands a query
 * touches: at 100k articles a Uint32Array (400 KB) shares the core's cache with the score
 * accumulator and missed it; one byte a document ranked 3 to 10% faster there (paired blocks of
 * queries in one process), and no different at 10k.
 */
export function themeIdArray(length: number, lists: number): ThemeIds {
  if (lists <= 0x100) return new Uint8Array(length)
  if (lists <= 0x10000) return new Uint16Array(length)
  return new Uint32Array(length)
}

/** The near-duplicate sketch of a document. */
export function sketchOf(index: RelatedIndex, d: number): Uint32Array {
  if (d < index.baseCount) {
    return index.sketchData.subarray(index.sketchStart[d], index.sketchStart[d + 1])
  }
  return index.addedSketches.get(d) ?? EMPTY_SKETCH
}

const EMPTY_SKETCH = new Uint32Array(0)

function compareSlugs(x: DocVector, y: DocVector): number {
  return x.slug < y.slug ? -1 : x.slug > y.slug ? 1 : 0
}

// Index of `hash` in the sorted vocabulary, or -1.
function lookup(vocab: Uint32Array, hash: number): number {
  let lo = 0
  let hi = vocab.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const v = vocab[mid] as number
    if (v === hash) return mid
    if (v < hash) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/**
 * Documents per term below which weighing reads idf from a table by df. Weighing needs a term's
 * idf for every term of every document: by term id that is a read at random, and at 100k articles
 * (3.6M distinct terms) idf is 28 MB, far larger than the cache, while a table of idf by df mostly
 * stays in it. finish() at 100k: 2.56 s against 2.75 s (bench/MEASUREMENTS.md).
 */
const SMALL_DF = 0xffff

// Decoded term weights by stored byte, so the build never calls expm1 per term.
export const TF_OF_BYTE = Float64Array.from({ length: 256 }, (_, b) => Math.expm1(b / WEIGHT_SCALE))

/** `array`, or a copy at least twice as long when it is shorter than `need`. */
export function grow<T extends Uint32Array | Uint8Array>(array: T, need: number): T {
  if (need <= array.length) return array
  const next = new (array.constructor as new (n: number) => T)(Math.max(need, array.length * 2))
  next.set(array)
  return next
}

/** The term hash a packed vector holds at byte `o` (big-endian, then its weight byte). */
export function termHashAt(bytes: Uint8Array, o: number): number {
  return (
    (((bytes[o] as number) << 24) |
      ((bytes[o + 1] as number) << 16) |
      ((bytes[o + 2] as number) << 8) |
      (bytes[o + 3] as number)) >>>
    0
  )
}

/** Accumulates stored vectors one at a time (a stream of KV values), then builds the index. */
export interface IndexBuilder {
  add(doc: DocVector): void
  finish(): RelatedIndex
}

/**
 * A builder that keeps only packed bytes per document, so vectors can be dropped once added.
 * `smallDf` is for tests: terms in that many documents or more take the per-term path.
 */
export function indexBuilder(
  config?: Partial<RelatedConfig>,
  smallDf: number = SMALL_DF,
): IndexBuilder {
  const cfg = resolveConfig(config)
  let hashes = new Uint32Array(1 << 16)
  let tfBytes = new Uint8Array(1 << 16)
  let start = new Uint32Array(1 << 10)
  let sketchData = new Uint32Array(1 << 12)
  let sketchStart = new Uint32Array(1 << 10)
  const slugs: string[] = []
  const position = new Map<string, number>()
  const lengths: number[] = []
  const days: number[] = []
  const themeIds: number[] = []
  const themeLists: Array<readonly string[]> = []
  const themeIdOf = new Map<string, number>()
  let total = 0
  let sketchTotal = 0
  return {
    add(doc) {
      const d = slugs.length
      if (position.has(doc.slug)) throw new Error(`duplicate slug in related index: ${doc.slug}`)
      position.set(doc.slug, d)
      slugs.push(doc.slug)
      const bytes = decodeBytes(doc.t)
      const count = Math.floor(bytes.length / TERM_BYTES)
      hashes = grow(hashes, total + count)
      tfBytes = grow(tfBytes, total + count)
      for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
        hashes[total] = termHashAt(bytes, o)
        tfBytes[total] = bytes[o + 4] as number
        total++
      }
      start = grow(start, d + 2)
      start[d + 1] = total
      const sketch = unpackHashes(doc.d)
      sketchData = grow(sketchData, sketchTotal + sketch.length)
      sketchData.set(sketch, sketchTotal)
      sketchTotal += sketch.length
      sketchStart = grow(sketchStart, d + 2)
      sketchStart[d + 1] = sketchTotal
      lengths.push(doc.n)
      days.push(utcMillis(doc.publishedAt) / DAY_MS)
      themeIds.push(themeListId(themeLists, themeIdOf, doc.themes))
    },
    finish() {
      return finishIndex(cfg, smallDf, {
        hashes: hashes.subarray(0, total),
        tfBytes,
        start,
        sketchData: sketchData.slice(0, sketchTotal),
        sketchStart: sketchStart.slice(0, slugs.length + 1),
        slugs,
        position,
        lengths,
        days: Float64Array.from(days),
        themeIds: fillThemeIds(themeIds, themeLists.length),
        themeLists,
        themeIdOf,
      })
    },
  }
}

/** Builds the index from every article's stored vector (a full pass). */
export function buildIndex(
  docs: ReadonlyArray<DocVector>,
  config?: Partial<RelatedConfig>,
): RelatedIndex {
  const builder = indexBuilder(config)
  for (const doc of [...docs].sort(compareSlugs)) builder.add(doc)
  return builder.finish()
}

interface Collected {
  hashes: Uint32Array
  tfBytes: Uint8Array
  start: Uint32Array
  sketchData: Uint32Array
  sketchStart: Uint32Array
  slugs: string[]
  position: Map<string, number>
  lengths: number[]
  days: Float64Array
  themeIds: ThemeIds
  themeLists: Array<readonly string[]>
  themeIdOf: Map<string, number>
}

function fillThemeIds(ids: readonly number[], lists: number): ThemeIds {
  const out = themeIdArray(ids.length, lists)
  out.set(ids)
  return out
}

// The number of a theme list, registering it on first sight (equal lists share one number).
function themeListId(
  lists: Array<readonly string[]>,
  idOf: Map<string, number>,
  themes: readonly string[],
): number {
  const key = themes.length ? [...themes].sort().join('\n') : ''
  let id = idOf.get(key)
  if (id === undefined) {
    id = lists.length
    lists.push(key ? Object.freeze(key.split('\n')) : NO_THEMES)
    idOf.set(key, id)
  }
  return id
}

// Term ids by an LSD radix sort of the hashes (11, 11 and 10 bits), moving each hash together with
// its position so every pass reads sequentially: linear time, and at 100k documents (9.6M terms)
// about three times faster than sorting positions and looking the hashes up.
function termIds(hashes: Uint32Array): {
  vocab: Uint32Array
  df: Uint32Array
  termOf: Uint32Array
  /** df of each position's term */
  dfAt: Uint32Array
} {
  const total = hashes.length
  // Every digit's counts in one pass, turned into where each bucket starts.
  const low = new Uint32Array(2048)
  const mid = new Uint32Array(2048)
  const high = new Uint32Array(1024)
  for (let i = 0; i < total; i++) {
    const key = hashes[i] as number
    low[key & 0x7ff] = (low[key & 0x7ff] as number) + 1
    mid[(key >>> 11) & 0x7ff] = (mid[(key >>> 11) & 0x7ff] as number) + 1
    high[key >>> 22] = (high[key >>> 22] as number) + 1
  }
  for (const counts of [low, mid, high]) {
    let at = 0
    for (let bucket = 0; bucket < counts.length; bucket++) {
      const count = counts[bucket] as number
      counts[bucket] = at
      at += count
    }
  }
  // The first digit reads the hashes themselves, in position order.
  const keys = new Uint32Array(total)
  const order = new Uint32Array(total)
  for (let i = 0; i < total; i++) {
    const key = hashes[i] as number
    const at = low[key & 0x7ff] as number
    keys[at] = key
    order[at] = i
    low[key & 0x7ff] = at + 1
  }
  const nextKeys = new Uint32Array(total)
  const nextOrder = new Uint32Array(total)
  sortByDigit(keys, order, nextKeys, nextOrder, mid, 11, 0x7ff)
  sortByDigit(nextKeys, nextOrder, keys, order, high, 22, 0x3ff)
  let distinct = 0
  for (let i = 0; i < total; i++) if (i === 0 || keys[i] !== keys[i - 1]) distinct++
  const vocab = new Uint32Array(distinct)
  const df = new Uint32Array(distinct)
  for (let i = 0, v = -1; i < total; i++) {
    const key = keys[i] as number
    if (i === 0 || key !== keys[i - 1]) vocab[++v] = key
    df[v] = (df[v] as number) + 1
  }
  // Each position's term and that term's df, written where the position is: weighing then reads
  // both in document order. Looking df up by term id instead read an array larger than the cache
  // at random: 9.6M lookups at 100k articles. The spare sort buffers hold them.
  const termOf = nextKeys
  const dfAt = nextOrder
  for (let i = 0, v = -1; i < total; i++) {
    if (i === 0 || keys[i] !== keys[i - 1]) v++
    const at = order[i] as number
    termOf[at] = v
    dfAt[at] = df[v] as number
  }
  return { vocab, df, termOf, dfAt }
}

// One pass of termIds' radix sort: moves each key, with its position, to its digit's next slot.
function sortByDigit(
  keys: Uint32Array,
  order: Uint32Array,
  toKeys: Uint32Array,
  toOrder: Uint32Array,
  next: Uint32Array,
  shift: number,
  mask: number,
): void {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as number
    const bucket = (key >>> shift) & mask
    const at = next[bucket] as number
    toKeys[at] = key
    toOrder[at] = order[i] as number
    next[bucket] = at + 1
  }
}

function finishIndex(cfg: RelatedConfig, smallDf: number, c: Collected): RelatedIndex {
  const n = c.slugs.length
  const total = c.hashes.length
  const { vocab, df, termOf, dfAt } = termIds(c.hashes)
  const distinct = vocab.length
  let totalLength = 0
  for (const length of c.lengths) totalLength += length
  // idf depends on df alone: computed once per df value, not once per term.
  const idfOfDf = new Float64Array(Math.min(n + 1, smallDf))
  for (let f = 1; f < idfOfDf.length; f++) idfOfDf[f] = idfFor(cfg, n, f)
  const idf = new Float64Array(distinct)
  for (let t = 0; t < distinct; t++) {
    const f = df[t] as number
    idf[t] = f < smallDf ? (idfOfDf[f] as number) : idfFor(cfg, n, f)
  }
  const avgLength = n > 0 ? Math.max(1, totalLength / n) : 1
  const maxDf = maxDfFor(cfg, n)
  // Unit-length weights. Terms of one document stay: a later addition may share them.
  const fTerm = termOf
  const fWeight = new Float32Array(total)
  const fStart = c.start.slice(0, n + 1)
  const fShared = weighShared(
    cfg,
    c,
    fStart,
    fTerm,
    fWeight,
    { idf, dfAt, idfOfDf, smallDf },
    maxDf,
    avgLength,
  )
  // Inverted postings by counting sort, documents ascending within each term. `fill` doubles as
  // the keep flag (NONE for terms left out) so the scatter reads one random array, not two.
  const iStart = new Uint32Array(distinct + 1)
  const fill = new Uint32Array(distinct)
  for (let t = 0; t < distinct; t++) {
    const f = df[t] as number
    const at = iStart[t] as number
    fill[t] = f <= maxDf ? at : NONE
    iStart[t + 1] = f <= maxDf ? at + f : at
  }
  const iPost = new Uint32Array(2 * (iStart[distinct] as number))
  const iPostWeight = new Float32Array(iPost.buffer)
  for (let d = 0; d < n; d++) {
    const end = fStart[d + 1] as number
    for (let i = fStart[d] as number; i < end; i++) {
      const t = fTerm[i] as number
      const at = fill[t] as number
      if (at === NONE) continue
      iPost[2 * at] = d
      iPostWeight[2 * at + 1] = fWeight[i] as number
      fill[t] = at + 1
    }
  }
  return {
    config: cfg,
    slugs: c.slugs,
    position: c.position,
    days: c.days,
    themeIds: c.themeIds,
    themeLists: c.themeLists,
    themeIdOf: c.themeIdOf,
    sketchData: c.sketchData,
    sketchStart: c.sketchStart,
    vocab,
    idf,
    df,
    fStart,
    fTerm,
    fWeight,
    fShared,
    iStart,
    iPost,
    iPostWeight,
    maxDf,
    avgLength,
    baseCount: n,
    ...noUpdates(n),
  }
}

/**
 * Fills in each document's unit-length weights and moves its terms that another base document
 * shares (1 < df <= maxDf) to the front of its forward vector, keeping their order; returns
 * where they end per document. A term of one document or one left out of the postings adds
 * nothing to another base document's score; at 100k articles they were half of a query's terms
 * (32% and 20%), and each cost a lookup in arrays far larger than the cache. The shared terms
 * keep their order, so every score is summed in the same order as before, to the last bit.
 * One pass with the weights (a pass of its own took 0.7 s at 100k), reading each term's df in
 * document order (termIds).
 */
function weighShared(
  cfg: RelatedConfig,
  c: Collected,
  fStart: Uint32Array,
  fTerm: Uint32Array,
  fWeight: Float32Array,
  terms: TermStats,
  maxDf: number,
  avgLength: number,
): Uint32Array {
  const n = fStart.length - 1
  const { idf, dfAt, idfOfDf, smallDf } = terms
  const fShared = new Uint32Array(n)
  let restTerm = new Uint32Array(256)
  let restWeight = new Float32Array(256)
  for (let d = 0; d < n; d++) {
    const norm = lengthNorm(cfg, c.lengths[d] as number, avgLength)
    const begin = fStart[d] as number
    const end = fStart[d + 1] as number
    if (restTerm.length < end - begin) {
      restTerm = new Uint32Array(end - begin)
      restWeight = new Float32Array(end - begin)
    }
    let sum = 0
    let at = begin
    let rest = 0
    for (let i = begin; i < end; i++) {
      const t = fTerm[i] as number
      const f = dfAt[i] as number
      const w =
        saturate(cfg, TF_OF_BYTE[c.tfBytes[i] as number] as number, norm) *
        (f < smallDf ? (idfOfDf[f] as number) : (idf[t] as number))
      sum += w * w
      // `at` never passes `i`: the entry written is one already read.
      if (f > 1 && f <= maxDf) {
        fTerm[at] = t
        fWeight[at] = w
        at++
      } else {
        restTerm[rest] = t
        restWeight[rest] = w
        rest++
      }
    }
    fShared[d] = at
    fTerm.set(restTerm.subarray(0, rest), at)
    fWeight.set(restWeight.subarray(0, rest), at)
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
    for (let i = begin; i < end; i++) fWeight[i] = (fWeight[i] as number) * scale
  }
  return fShared
}

/** What weighing reads of the terms' statistics (see SMALL_DF). */
interface TermStats {
  /** idf per term */
  idf: Float64Array
  /** df of the term at each position of the forward vectors, in document order */
  dfAt: Uint32Array
  /** idf by df below smallDf */
  idfOfDf: Float64Array
  smallDf: number
}

/** Terms in more than this many of `n` documents are left out of the postings. */
export function maxDfFor(cfg: RelatedConfig, n: number): number {
  return n < cfg.maxDfMinDocs ? n : Math.max(cfg.maxDfFloor, Math.floor(n * cfg.maxDfShare))
}

/** A term's idf in a corpus of `n` documents, `f` of which hold it. */
export function idfFor(cfg: RelatedConfig, n: number, f: number): number {
  return Math.log(1 + (n - f + 0.5) / (f + 0.5)) ** cfg.idfPower
}

/** The incremental-update fields of an index of `n` base documents that nothing updated yet. */
export function noUpdates(n: number) {
  return {
    addedSketches: new Map<number, Uint32Array>(),
    added: new Map<number, AddedDoc>(),
    addedPostings: new Map<number, number[]>(),
    newTerms: new Map<number, number>(),
    removed: new Set<number>(),
    scratch: new Float64Array(n),
  }
}

export function lengthNorm(cfg: RelatedConfig, length: number, avgLength: number): number {
  return cfg.k1 * (1 - cfg.b + (cfg.b * length) / avgLength)
}

export function saturate(cfg: RelatedConfig, tf: number, norm: number): number {
  return (tf * (cfg.k1 + 1)) / (tf + norm)
}

/**
 * Adds or replaces documents and removes others without a full build; the corpus statistics
 * (idf, average length) stay those of the last full build until the next one.
 *
 * A document with an entry in `scales` (slug to the `AddedDoc.scale` an earlier update of an index
 * of the same build found for it) joins as a candidate only: its terms the index lacks are left
 * out, since no query holds them (a query's terms are all in the index), and its weights are
 * scaled by that entry, so its postings weigh what they would with every term. An assembled
 * index then needs only the queries' terms (assembleIndex), not every added document's: at 100k
 * articles the terms of 2,600 stories kept 88,410 terms (2.0M postings) of the parts, those of
 * 100 kept 5,029 (197k postings).
 */
export function updateIndex(
  index: RelatedIndex,
  upserts: ReadonlyArray<DocVector>,
  removedSlugs: ReadonlyArray<string> = [],
  scales?: ReadonlyMap<string, number>,
): RelatedIndex {
  const cfg = index.config
  for (const slug of [...removedSlugs, ...upserts.map((doc) => doc.slug)]) {
    const d = index.position.get(slug)
    if (d === undefined) continue
    index.removed.add(d)
    index.position.delete(slug)
  }
  const sorted = [...upserts].sort(compareSlugs)
  // Grown once per call, by copy: an assembled index shares these arrays with the stored table.
  if (sorted.length > 0) {
    const count = index.slugs.length + sorted.length
    const days = new Float64Array(count)
    days.set(index.days.subarray(0, index.slugs.length))
    // Wide enough for a new theme list per added document.
    const themeIds = themeIdArray(count, index.themeLists.length + sorted.length)
    themeIds.set(index.themeIds.subarray(0, index.slugs.length))
    index.days = days
    index.themeIds = themeIds
  }
  const { days, themeIds } = index
  // A term first seen since the build counts as one in a single document of a corpus one larger.
  const rare = idfFor(cfg, index.baseCount + 1, 1)
  // Candidates only are weighed after the others, whose terms first seen since the build take
  // their ids first: a candidate's term that no other document added holds is left out.
  const later: Array<[number, DocVector, number]> = []
  for (const doc of sorted) {
    if (index.position.has(doc.slug))
      throw new Error(`duplicate slug in related index: ${doc.slug}`)
    const d = index.slugs.length
    index.slugs.push(doc.slug)
    index.position.set(doc.slug, d)
    days[d] = utcMillis(doc.publishedAt) / DAY_MS
    themeIds[d] = themeListId(index.themeLists, index.themeIdOf, doc.themes)
    index.addedSketches.set(d, unpackHashes(doc.d))
    const known = scales?.get(doc.slug)
    if (known === undefined) addTerms(index, d, doc, rare, null)
    else later.push([d, doc, known])
  }
  for (const [d, doc, scale] of later) addTerms(index, d, doc, rare, scale)
  if (index.scratch.length < index.slugs.length)
    index.scratch = new Float64Array(index.slugs.length * 2)
  return index
}

/**
 * Weighs an added document's terms and posts them; with a known `scale`, only the terms the index
 * has (see updateIndex).
 */
function addTerms(
  index: RelatedIndex,
  d: number,
  doc: DocVector,
  rare: number,
  known: number | null,
): void {
  const cfg = index.config
  const norm = lengthNorm(cfg, doc.n, index.avgLength)
  const bytes = decodeBytes(doc.t)
  const terms: number[] = []
  const weights: number[] = []
  let sum = 0
  for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
    const hash = termHashAt(bytes, o)
    let t = lookup(index.vocab, hash)
    if (t < 0) {
      const seen = index.newTerms.get(hash)
      if (seen === undefined && known !== null) continue
      // A term first seen after the full build counts as rare until the next full build.
      t = seen ?? index.vocab.length + index.newTerms.size
      index.newTerms.set(hash, t)
    }
    const idf = t < index.vocab.length ? (index.idf[t] as number) : rare
    const w = saturate(cfg, TF_OF_BYTE[bytes[o + 4] as number] as number, norm) * idf
    terms.push(t)
    weights.push(w)
    sum += w * w
  }
  const scale = known ?? (sum > 0 ? 1 / Math.sqrt(sum) : 0)
  for (let i = 0; i < terms.length; i++) {
    const t = terms[i] as number
    const w = (weights[i] as number) * scale
    weights[i] = w
    const list = index.addedPostings.get(t) ?? []
    if (list.length === 0) index.addedPostings.set(t, list)
    list.push(d, w)
  }
  index.added.set(d, { terms, weights, scale, candidateOnly: known !== null })
}
