// The stored per-article features: computed once when an article changes, packed to stay small.
import { decodeBytes, encodeBytes, hash32 } from './codec.ts'
import { type RelatedConfig, resolveConfig } from './config.ts'
import { type Token, tokenize } from './tokenize.ts'

/** What the engine needs to know about one article: the text fields, themes and date. */
export interface RelatedSource {
  slug: string
  title: string
  subtitle?: string
  summary: string
  body: string
  /** Theme slugs. */
  themes: string[]
  /** RFC 3339 UTC. */
  publishedAt: string
}

/** Compact JSON-serialisable features of one article; ranking needs nothing else. */
export interface DocVector {
  slug: string
  publishedAt: string
  /** Theme slugs, sorted. */
  themes: string[]
  /** Field-weighted count of ranking terms (document length for BM25). */
  n: number
  /** Heaviest terms packed as base64url: 4-byte term hash then 1-byte log weight, per term. */
  t: string
  /** Near-duplicate sketch packed as base64url: ascending 4-byte shingle hashes. */
  d: string
}

/** One unpacked term of a vector: hashed term id and field-weighted frequency. */
export interface WeightedTerm {
  id: number
  tf: number
}

const WEIGHT_SCALE = 40
const HAS_DIGIT = /\p{N}/u
const TERM_BYTES = 5

/** Turns an article into its stored vector. */
export function vectorize(doc: RelatedSource, config?: Partial<RelatedConfig>): DocVector {
  const cfg = resolveConfig(config)
  const fields: Array<[string, number]> = [
    [doc.title, cfg.titleWeight],
    [doc.subtitle ?? '', cfg.subtitleWeight],
    [doc.summary, cfg.summaryWeight],
    [doc.body, cfg.bodyWeight],
  ]
  const weights = new Map<string, number>()
  const words: string[] = []
  let length = 0
  for (const [text, fieldWeight] of fields) {
    if (!text) continue
    const tokens = tokenize(text)
    for (const token of tokens) words.push(token.word)
    length += addTerms(weights, tokens, fieldWeight, cfg)
  }
  const terms = [...weights].map(([term, tf]) => ({ id: hash32(term), tf }))
  // Heaviest first; equal weights fall back to the hash so the cut is the same everywhere.
  terms.sort((x, y) => y.tf - x.tf || x.id - y.id)
  return {
    slug: doc.slug,
    publishedAt: doc.publishedAt,
    themes: [...new Set(doc.themes)].sort(),
    n: Math.round(length),
    t: packTerms(terms.slice(0, cfg.maxTerms)),
    d: packHashes(sketch(words, cfg)),
  }
}

function addTerms(
  weights: Map<string, number>,
  tokens: Token[],
  fieldWeight: number,
  cfg: RelatedConfig,
): number {
  let length = 0
  let previous: Token | null = null
  for (const token of tokens) {
    if (token.term === null) {
      previous = null
      continue
    }
    if (previous !== null && cfg.phraseWeight > 0) {
      const phrase = `${previous.term} ${token.term}`
      const named = previous.name && token.name ? cfg.properNounBoost : 1
      weights.set(phrase, (weights.get(phrase) ?? 0) + fieldWeight * cfg.phraseWeight * named)
    }
    previous = token
    const boost = token.name
      ? cfg.properNounBoost
      : HAS_DIGIT.test(token.term)
        ? cfg.numberBoost
        : 1
    const w = fieldWeight * boost
    weights.set(token.term, (weights.get(token.term) ?? 0) + w)
    length += fieldWeight
  }
  return length
}

/** Bottom-k MinHash of word shingles; short texts get one hash of all their words instead. */
export function sketch(words: string[], config: RelatedConfig): number[] {
  if (words.length === 0) return []
  const size = config.shingleSize
  const count = words.length - size + 1
  if (count < config.minShingles) return [hash32(words.join(' '), 0x2545f491)]
  const wordHashes = words.map((word) => hash32(word))
  const shingles = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    // Combine the word hashes instead of joining strings: same result, far less garbage.
    let h = 0x9e3779b9
    for (let j = 0; j < size; j++) h = Math.imul(h ^ (wordHashes[i + j] as number), 0x01000193) + j
    h ^= h >>> 15
    h = Math.imul(h, 0x2c1b3c6d)
    h ^= h >>> 12
    shingles[i] = h
  }
  // The smallest distinct hashes, ascending: a typed array sorts natively with no comparator
  // calls, where a set of every shingle sorted through one took most of vectorizing's sketch.
  shingles.sort()
  const out: number[] = []
  for (let i = 0; i < count && out.length < config.sketchSize; i++) {
    const h = shingles[i] as number
    if (i === 0 || h !== shingles[i - 1]) out.push(h)
  }
  return out
}

/** Estimated resemblance of two ascending sketches: shared share of their union's bottom k. */
export function resemblance(a: Uint32Array, b: Uint32Array, k: number): number {
  if (a.length === 0 || b.length === 0) return 0
  let i = 0
  let j = 0
  let taken = 0
  let shared = 0
  while (taken < k && (i < a.length || j < b.length)) {
    const x = i < a.length ? (a[i] as number) : Number.POSITIVE_INFINITY
    const y = j < b.length ? (b[j] as number) : Number.POSITIVE_INFINITY
    if (x === y) {
      shared++
      i++
      j++
    } else if (x < y) i++
    else j++
    taken++
  }
  return shared / taken
}

function packTerms(terms: WeightedTerm[]): string {
  const bytes = new Uint8Array(terms.length * TERM_BYTES)
  const view = new DataView(bytes.buffer)
  terms.forEach((term, i) => {
    view.setUint32(i * TERM_BYTES, term.id)
    bytes[i * TERM_BYTES + 4] = Math.min(255, Math.round(Math.log1p(term.tf) * WEIGHT_SCALE))
  })
  return encodeBytes(bytes)
}

/** Unpacks the terms of a stored vector. */
export function unpackTerms(packed: string): WeightedTerm[] {
  const bytes = decodeBytes(packed)
  const view = new DataView(bytes.buffer)
  const terms: WeightedTerm[] = []
  for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
    terms.push({ id: view.getUint32(o), tf: Math.expm1((bytes[o + 4] as number) / WEIGHT_SCALE) })
  }
  return terms
}

/** The term hashes of a stored vector, in stored order. */
export function termHashes(packed: string): number[] {
  const bytes = decodeBytes(packed)
  const view = new DataView(bytes.buffer)
  const out: number[] = []
  for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) out.push(view.getUint32(o))
  return out
}

function packHashes(hashes: number[]): string {
  const bytes = new Uint8Array(hashes.length * 4)
  const view = new DataView(bytes.buffer)
  hashes.forEach((h, i) => {
    view.setUint32(i * 4, h)
  })
  return encodeBytes(bytes)
}

/** Unpacks a near-duplicate sketch. */
export function unpackHashes(packed: string): Uint32Array {
  const bytes = decodeBytes(packed)
  const view = new DataView(bytes.buffer)
  const out = new Uint32Array(Math.floor(bytes.length / 4))
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4)
  return out
}
