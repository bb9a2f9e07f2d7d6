// The in-memory corpus index: flat typed arrays (forward vectors and inverted postings) built once
// per full pass, plus a small overlay for documents added or removed by incremental ticks.
import { decodeBytes } from './codec.ts'
import { type RelatedConfig, resolveConfig } from './config.ts'
import { type DocVector, unpackHashes } from './doc-vector.ts'

const DAY_MS = 86_400_000
const TERM_BYTES = 5
const WEIGHT_SCALE = 40
const NO_THEMES: readonly string[] = Object.freeze([])

/** Everything ranking needs, built from all stored vectors; base documents are numbered by slug. */
export interface RelatedIndex {
  config: RelatedConfig
  /** Slug of each document number (base documents sorted, incremental additions after). */
  slugs: string[]
  /** Document number of each live slug. */
  position: Map<string, number>
  /** Publication day of each document (NaN when unparseable). */
  days: number[]
  /** Sorted theme slugs of each document. */
  themes: ReadonlyArray<readonly string[]>
  /** Near-duplicate sketch of each document. */
  sketches: Uint32Array[]
  /** Sorted hashes of the terms seen by the full build, and their inverse document frequency. */
  vocab: Uint32Array
  idf: Float64Array
  df: Uint32Array
  /** Forward vectors of base documents: dense term ids and unit weights. */
  fStart: Uint32Array
  fTerm: Uint32Array
  fWeight: Float32Array
  /** Inverted postings of base documents per dense term (frequent terms left out, see maxDf). */
  iStart: Uint32Array
  iDoc: Uint32Array
  iWeight: Float32Array
  /** Terms in more documents than this are left out of the postings (cost control). */
  maxDf: number
  /** Average field-weighted length, fixed at the full build. */
  avgLength: number
  /** Number of base documents. */
  baseCount: number
  /** Overlay: forward vectors of added documents, by document number. */
  added: Map<number, { terms: number[]; weights: number[] }>
  /** Overlay: postings of added documents per term id, as [doc, weight] pairs. */
  addedPostings: Map<number, number[]>
  /** Overlay: ids for terms first seen after the full build. */
  newTerms: Map<number, number>
  /** Documents removed or replaced since the full build. */
  removed: Set<number>
  /** Reusable score accumulator, one slot per document number. */
  scratch: Float64Array
}

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

/** Builds the index from every article's stored vector (a full pass). */
export function buildIndex(
  docs: ReadonlyArray<DocVector>,
  config?: Partial<RelatedConfig>,
): RelatedIndex {
  const cfg = resolveConfig(config)
  const sorted = [...docs].sort(compareSlugs)
  const n = sorted.length
  // Pass 1: unpack every vector into flat arrays.
  let capacity = 0
  for (const doc of sorted) capacity += Math.floor((doc.t.length * 6) / 8 / TERM_BYTES)
  const hashes = new Uint32Array(capacity)
  const tfs = new Float32Array(capacity)
  const start = new Uint32Array(n + 1)
  let total = 0
  let totalLength = 0
  for (let d = 0; d < n; d++) {
    const doc = sorted[d] as DocVector
    if (d > 0 && doc.slug === (sorted[d - 1] as DocVector).slug) {
      throw new Error(`duplicate slug in related index: ${doc.slug}`)
    }
    const bytes = decodeBytes(doc.t)
    for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
      hashes[total] =
        (((bytes[o] as number) << 24) |
          ((bytes[o + 1] as number) << 16) |
          ((bytes[o + 2] as number) << 8) |
          (bytes[o + 3] as number)) >>>
        0
      tfs[total] = Math.expm1((bytes[o + 4] as number) / WEIGHT_SCALE)
      total++
    }
    start[d + 1] = total
    totalLength += doc.n
  }
  // Pass 2: vocabulary and document frequencies by sorting the hashes.
  const all = hashes.slice(0, total).sort()
  let distinct = 0
  for (let i = 0; i < total; i++) if (i === 0 || all[i] !== all[i - 1]) distinct++
  const vocab = new Uint32Array(distinct)
  const df = new Uint32Array(distinct)
  for (let i = 0, v = -1; i < total; i++) {
    if (i === 0 || all[i] !== all[i - 1]) vocab[++v] = all[i] as number
    df[v] = (df[v] as number) + 1
  }
  const idf = new Float64Array(distinct)
  for (let t = 0; t < distinct; t++) {
    const f = df[t] as number
    idf[t] = Math.log(1 + (n - f + 0.5) / (f + 0.5)) ** cfg.idfPower
  }
  const avgLength = n > 0 ? Math.max(1, totalLength / n) : 1
  const maxDf = n < cfg.maxDfMinDocs ? n : Math.max(cfg.maxDfFloor, Math.floor(n * cfg.maxDfShare))
  // Pass 3: unit-length weights. Terms of one document stay: a later addition may share them.
  const termOf = new Int32Array(total)
  const weightOf = new Float32Array(total)
  const fStart = new Uint32Array(n + 1)
  let kept = 0
  for (let d = 0; d < n; d++) {
    const norm = lengthNorm(cfg, (sorted[d] as DocVector).n, avgLength)
    let sum = 0
    for (let i = start[d] as number; i < (start[d + 1] as number); i++) {
      const t = lookup(vocab, hashes[i] as number)
      const w = saturate(cfg, tfs[i] as number, norm) * (idf[t] as number)
      termOf[i] = t
      weightOf[i] = w
      sum += w * w
    }
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
    for (let i = start[d] as number; i < (start[d + 1] as number); i++) {
      termOf[kept] = termOf[i] as number
      weightOf[kept] = (weightOf[i] as number) * scale
      kept++
    }
    fStart[d + 1] = kept
  }
  const fTerm = new Uint32Array(termOf.subarray(0, kept))
  const fWeight = weightOf.slice(0, kept)
  // Pass 4: inverted postings by counting sort, documents ascending within each term.
  const iStart = new Uint32Array(distinct + 1)
  for (let i = 0; i < kept; i++) {
    const t = fTerm[i] as number
    if ((df[t] as number) <= maxDf) iStart[t + 1] = (iStart[t + 1] as number) + 1
  }
  for (let t = 0; t < distinct; t++)
    iStart[t + 1] = (iStart[t + 1] as number) + (iStart[t] as number)
  const fill = iStart.slice(0, distinct)
  const iDoc = new Uint32Array(iStart[distinct] as number)
  const iWeight = new Float32Array(iStart[distinct] as number)
  for (let d = 0; d < n; d++) {
    for (let i = fStart[d] as number; i < (fStart[d + 1] as number); i++) {
      const t = fTerm[i] as number
      if ((df[t] as number) > maxDf) continue
      const at = fill[t] as number
      iDoc[at] = d
      iWeight[at] = fWeight[i] as number
      fill[t] = at + 1
    }
  }
  const slugs = sorted.map((doc) => doc.slug)
  return {
    config: cfg,
    slugs,
    position: new Map(slugs.map((slug, d) => [slug, d])),
    days: sorted.map((doc) => Date.parse(doc.publishedAt) / DAY_MS),
    themes: sorted.map((doc) => (doc.themes.length ? [...doc.themes].sort() : NO_THEMES)),
    sketches: sorted.map((doc) => unpackHashes(doc.d)),
    vocab,
    idf,
    df,
    fStart,
    fTerm,
    fWeight,
    iStart,
    iDoc,
    iWeight,
    maxDf,
    avgLength,
    baseCount: n,
    added: new Map(),
    addedPostings: new Map(),
    newTerms: new Map(),
    removed: new Set(),
    scratch: new Float64Array(n),
  }
}

function lengthNorm(cfg: RelatedConfig, length: number, avgLength: number): number {
  return cfg.k1 * (1 - cfg.b + (cfg.b * length) / avgLength)
}

function saturate(cfg: RelatedConfig, tf: number, norm: number): number {
  return (tf * (cfg.k1 + 1)) / (tf + norm)
}

/**
 * Adds or replaces documents and removes others without a full build; the corpus statistics
 * (idf, average length) stay those of the last full build until the next one.
 */
export function updateIndex(
  index: RelatedIndex,
  upserts: ReadonlyArray<DocVector>,
  removedSlugs: ReadonlyArray<string> = [],
): RelatedIndex {
  const cfg = index.config
  for (const slug of [...removedSlugs, ...upserts.map((doc) => doc.slug)]) {
    const d = index.position.get(slug)
    if (d === undefined) continue
    index.removed.add(d)
    index.position.delete(slug)
  }
  for (const doc of [...upserts].sort(compareSlugs)) {
    if (index.position.has(doc.slug))
      throw new Error(`duplicate slug in related index: ${doc.slug}`)
    const d = index.slugs.length
    const norm = lengthNorm(cfg, doc.n, index.avgLength)
    const bytes = decodeBytes(doc.t)
    const terms: number[] = []
    const weights: number[] = []
    let sum = 0
    for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
      const hash = new DataView(bytes.buffer).getUint32(o)
      let t = lookup(index.vocab, hash)
      if (t < 0) {
        // A term first seen after the full build counts as rare until the next full build.
        t = index.newTerms.get(hash) ?? index.vocab.length + index.newTerms.size
        index.newTerms.set(hash, t)
      }
      const rare = Math.log(1 + (index.baseCount + 0.5) / 1.5) ** cfg.idfPower
      const idf = t < index.vocab.length ? (index.idf[t] as number) : rare
      const w = saturate(cfg, Math.expm1((bytes[o + 4] as number) / WEIGHT_SCALE), norm) * idf
      terms.push(t)
      weights.push(w)
      sum += w * w
    }
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
    for (let i = 0; i < terms.length; i++) {
      const t = terms[i] as number
      const w = (weights[i] as number) * scale
      weights[i] = w
      const list = index.addedPostings.get(t) ?? []
      if (list.length === 0) index.addedPostings.set(t, list)
      list.push(d, w)
    }
    index.added.set(d, { terms, weights })
    index.slugs.push(doc.slug)
    index.position.set(doc.slug, d)
    index.days.push(Date.parse(doc.publishedAt) / DAY_MS)
    ;(index.themes as Array<readonly string[]>).push(
      doc.themes.length ? [...doc.themes].sort() : NO_THEMES,
    )
    index.sketches.push(unpackHashes(doc.d))
  }
  if (index.scratch.length < index.slugs.length)
    index.scratch = new Float64Array(index.slugs.length * 2)
  return index
}
