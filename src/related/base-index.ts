// The related index as the job stores it between full rebuilds, and the small index a tick
// assembles from it. A full build is split into a document table (slug, content hash, day,
// themes, near-duplicate sketch of every document) and term parts (the sorted term hashes of one
// hash range with their document frequency and postings). A tick reads the document table, then
// streams the parts one at a time and keeps only the postings of the terms its queries use and
// the forward vectors of the documents it ranks: ranking that small index gives the same scores
// as ranking the full one, because a score only ever reads the query's own terms' postings.
// A posting's stored weight times its document's scale (in the document table) is its unit-length
// weight: a full build stores unit weights and scales of 1; a build in slices (sliced-build.ts)
// stores raw weights, since a document's norm is known only once every term part is merged, and
// the scales last.
// Everything here is pure (bytes in, bytes out); storage/related-base.ts owns the KV keys.
import type { RelatedConfig } from './config.ts'
import { type DocVector, termHashes } from './doc-vector.ts'
import {
  idfFor,
  LayeredPositions,
  noUpdates,
  type RelatedIndex,
  type ThemeIds,
  themeIdArray,
  updateIndex,
} from './related-index.ts'

/** A stored value is missing, truncated or from another build: the index must be built again. */
export class StoredIndexError extends Error {
  override name = 'StoredIndexError'
}

/** Describes one stored base: read first, written last, so a half-written base is never used. */
export interface BaseMeta {
  version: typeof BASE_FORMAT
  /** content-derived id of this build: every part and chunk repeats it (a mixed set is refused) */
  gen: string
  /** hash of the engine settings the base was built with (a change means a rebuild) */
  configHash: string
  /** number of documents */
  n: number
  /** number of term parts, a power of two: part p holds the hashes whose top bits are p */
  parts: number
  /** number of document-table chunks */
  chunks: number
  avgLength: number
  maxDf: number
  /** every distinct theme list, by number */
  themeLists: string[][]
}

/** The document table of a base: what ranking needs of every candidate. */
export interface BaseDocs {
  slugs: string[]
  /** content hash of each document's article when the base was built */
  hashes: string[]
  /** document number of each slug */
  position: Map<string, number>
  days: Float64Array
  themeIds: ThemeIds
  sketchStart: Uint32Array
  sketchData: Uint32Array
  /** what each document's stored weights are multiplied by to be of unit length */
  scales: Float64Array
}

/** Version of the stored layout; a meta of another version is not read (the index is built again). */
export const BASE_FORMAT = 3

/** Documents per table chunk: about 150 bytes each, so a chunk stays far below KV's 25 MB. */
export const DOCS_PER_CHUNK = 20_000
/** Aim for term parts of about this many documents' postings (a few MB each at 100k). */
const DOCS_PER_PART = 4_000
const MAX_PARTS = 256

/** Number of term parts for a corpus of `n` documents: a power of two from 1 to 256. */
export function partCount(n: number): number {
  let parts = 1
  while (parts < MAX_PARTS && parts * DOCS_PER_PART < n) parts *= 2
  return parts
}

/** The part a term hash belongs to. */
export function partOf(hash: number, parts: number): number {
  return parts <= 1 ? 0 : hash >>> (32 - Math.log2(parts))
}

// A stored value: u32 length of a JSON header, the header, zero padding to 8 bytes, then the typed
// sections the header lists in order (each padded to 8 bytes).
export type Section = Uint8Array | Uint32Array | Float32Array | Float64Array
type SectionKind = 'u8' | 'u32' | 'f32' | 'f64'

function kindOf(section: Section): SectionKind {
  if (section instanceof Uint8Array) return 'u8'
  return section instanceof Uint32Array ? 'u32' : section instanceof Float32Array ? 'f32' : 'f64'
}

const BYTES_OF: Record<SectionKind, number> = { u8: 1, u32: 4, f32: 4, f64: 8 }

const pad8 = (n: number) => (n + 7) & ~7

/** A JSON header and typed sections as one stored value (the layout above). */
export function pack(header: object, sections: Section[]): Uint8Array {
  const json = new TextEncoder().encode(
    JSON.stringify({ ...header, sections: sections.map((s) => [kindOf(s), s.length]) }),
  )
  let size = pad8(4 + json.length)
  for (const s of sections) size += pad8(s.byteLength)
  const out = new Uint8Array(size)
  new DataView(out.buffer).setUint32(0, json.length, true)
  out.set(json, 4)
  let at = pad8(4 + json.length)
  for (const s of sections) {
    out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), at)
    at += pad8(s.byteLength)
  }
  return out
}

/** A stored value's bytes: its own buffer, or a view of one (scratchReader's). */
export type StoredBytes = ArrayBuffer | Uint8Array

/**
 * Reads a stored part by number. Its bytes may share a buffer the next read reuses: what is
 * read from a part is copied out before the next.
 */
export type PartReader = (part: number) => Promise<StoredBytes | null>

/** A stored value's header and sections, as views of its bytes where they are aligned. */
export function unpack(value: StoredBytes): {
  header: Record<string, unknown>
  sections: Section[]
} {
  // Sections are views at 8-byte offsets from the value's start: a view elsewhere is copied.
  const bytes =
    value instanceof Uint8Array
      ? value.byteOffset % 8 === 0
        ? value
        : value.slice()
      : new Uint8Array(value)
  const { buffer, byteOffset: base, byteLength: size } = bytes
  let header: Record<string, unknown>
  let length: number
  try {
    length = new DataView(buffer, base, size).getUint32(0, true)
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)))
  } catch {
    throw new StoredIndexError('stored related index value is unreadable')
  }
  if (!Array.isArray(header.sections)) {
    throw new StoredIndexError('stored related index value is unreadable')
  }
  let at = pad8(4 + length)
  const sections: Section[] = []
  for (const [kind, count] of header.sections as Array<[SectionKind, number]>) {
    const width = BYTES_OF[kind]
    if (width === undefined || !Number.isInteger(count) || count < 0)
      throw new StoredIndexError('stored related index value is unreadable')
    const need = count * width
    if (at + need > size) throw new StoredIndexError('stored related index part is truncated')
    sections.push(
      kind === 'u8'
        ? new Uint8Array(buffer, base + at, count)
        : kind === 'u32'
          ? new Uint32Array(buffer, base + at, count)
          : kind === 'f32'
            ? new Float32Array(buffer, base + at, count)
            : new Float64Array(buffer, base + at, count),
    )
    at += pad8(need)
  }
  return { header, sections }
}

/**
 * A full build as stored values: the document table in chunks, then per part the terms in more
 * than one document (with their postings) and, apart, the terms in exactly one. A term of one
 * document can only matter to a document added since the build that has it too, so a tick reads
 * those only for the added documents' terms, once (most terms of a large corpus are such).
 */
export interface EncodedBase {
  meta: BaseMeta
  chunks: Uint8Array[]
  parts: Uint8Array[]
  rare: Uint8Array[]
}

/**
 * Splits a freshly built index (its base documents; nothing added or removed since) into the
 * stored document table and term parts.
 */
export function encodeBase(
  index: RelatedIndex,
  hashes: ReadonlyMap<string, string>,
  gen: string,
  configHash: string,
  parts = partCount(index.baseCount),
): EncodedBase {
  const n = index.baseCount
  const chunks: Uint8Array[] = []
  // At least one chunk, so an empty corpus still has a document table to read.
  const chunkCount = Math.max(1, Math.ceil(n / DOCS_PER_CHUNK))
  for (let c = 0; c < chunkCount; c++) {
    const first = c * DOCS_PER_CHUNK
    const last = Math.min(n, first + DOCS_PER_CHUNK)
    const slugs = index.slugs.slice(first, last)
    const s0 = index.sketchStart[first] as number
    const s1 = index.sketchStart[last] as number
    const sketchStart = new Uint32Array(last - first + 1)
    for (let d = first; d <= last; d++)
      sketchStart[d - first] = (index.sketchStart[d] as number) - s0
    chunks.push(
      pack({ gen, first, slugs, hashes: slugs.map((s) => hashes.get(s) ?? '') }, [
        index.days.slice(first, last),
        // Stored 32 bits wide whatever the index holds: the layout does not depend on the count.
        Uint32Array.from(index.themeIds.subarray(first, last)),
        sketchStart,
        index.sketchData.slice(s0, s1),
        // The weights below are of unit length already.
        new Float64Array(last - first).fill(1),
      ]),
    )
  }
  const out: Uint8Array[] = []
  const rare: Uint8Array[] = []
  const { vocab, df, iStart, iPost, iPostWeight } = index
  let t = 0
  for (let p = 0; p < parts; p++) {
    const common: number[] = []
    const single: number[] = []
    let postings = 0
    for (; t < vocab.length && partOf(vocab[t] as number, parts) === p; t++) {
      const count = (iStart[t + 1] as number) - (iStart[t] as number)
      if (df[t] === 1 && count === 1) single.push(t)
      else {
        common.push(t)
        postings += count
      }
    }
    const start = new Uint32Array(common.length + 1)
    const docs = new Uint32Array(postings)
    const weights = new Float32Array(postings)
    let at = 0
    common.forEach((term, i) => {
      for (let j = iStart[term] as number; j < (iStart[term + 1] as number); j++) {
        docs[at] = iPost[2 * j] as number
        weights[at] = iPostWeight[2 * j + 1] as number
        at++
      }
      start[i + 1] = at
    })
    out.push(
      pack({ gen, part: p, kind: 'common' }, [
        Uint32Array.from(common, (term) => vocab[term] as number),
        Uint32Array.from(common, (term) => df[term] as number),
        start,
        docs,
        weights,
      ]),
    )
    rare.push(
      pack({ gen, part: p, kind: 'rare' }, [
        Uint32Array.from(single, (term) => vocab[term] as number),
        Uint32Array.from(single, (term) => iPost[2 * (iStart[term] as number)] as number),
        Float32Array.from(
          single,
          (term) => iPostWeight[2 * (iStart[term] as number) + 1] as number,
        ),
      ]),
    )
  }
  return {
    meta: {
      version: BASE_FORMAT,
      gen,
      configHash,
      n,
      parts,
      chunks: chunks.length,
      avgLength: index.avgLength,
      maxDf: index.maxDf,
      themeLists: index.themeLists.map((l) => [...l]),
    },
    chunks,
    parts: out,
    rare,
  }
}

/** Reads a base's document table back from its chunks (in order); throws when they do not fit. */
export function decodeDocs(meta: BaseMeta, chunks: ReadonlyArray<StoredBytes>): BaseDocs {
  const decoder = docsDecoder(meta)
  for (const chunk of chunks) decoder.add(chunk)
  return decoder.finish()
}

/** decodeDocs a chunk at a time: each chunk's bytes are copied from, never kept. */
export interface DocsDecoder {
  add(chunk: StoredBytes): void
  finish(): BaseDocs
}

export function docsDecoder(meta: BaseMeta): DocsDecoder {
  const slugs: string[] = []
  const hashes: string[] = []
  const days = new Float64Array(meta.n)
  const themeIds = themeIdArray(meta.n, meta.themeLists.length)
  const sketchStart = new Uint32Array(meta.n + 1)
  const scales = new Float64Array(meta.n)
  // Sized from the first chunk for every chunk, grown if the others hold more.
  let sketchData: Uint32Array = new Uint32Array(0)
  let sketchTotal = 0
  return {
    add(chunk) {
      const { header, sections } = unpack(chunk)
      const [d, th, ss, sd, sc] = sections as [
        Float64Array,
        Uint32Array,
        Uint32Array,
        Uint32Array,
        Float64Array,
      ]
      const first = header.first as number
      const chunkSlugs = header.slugs as string[]
      if (header.gen !== meta.gen || first !== slugs.length || first + chunkSlugs.length > meta.n)
        throw new StoredIndexError('stored related index chunk does not belong to its base')
      if (!(sc instanceof Float64Array) || sc.length !== chunkSlugs.length)
        throw new StoredIndexError('stored related index chunk is unreadable')
      days.set(d, first)
      scales.set(sc, first)
      // A number past the lists would wrap in a narrow array: refuse it as any damaged value.
      for (let i = 0; i < th.length; i++) {
        if ((th[i] as number) >= meta.themeLists.length)
          throw new StoredIndexError('stored related index chunk names an unknown theme list')
      }
      themeIds.set(th, first)
      for (let i = 1; i < ss.length; i++) sketchStart[first + i] = sketchTotal + (ss[i] as number)
      if (sketchData.length === 0) {
        const perDoc = sd.length / Math.max(1, chunkSlugs.length)
        sketchData = new Uint32Array(Math.ceil(perDoc * meta.n * 1.05))
      }
      sketchData = growU32(sketchData, sketchTotal + sd.length)
      sketchData.set(sd, sketchTotal)
      sketchTotal += sd.length
      const chunkHashes = header.hashes as string[]
      for (let i = 0; i < chunkSlugs.length; i++) {
        slugs.push(chunkSlugs[i] as string)
        hashes.push(chunkHashes[i] as string)
      }
    },
    finish() {
      if (slugs.length !== meta.n)
        throw new StoredIndexError('stored related index is missing documents')
      const position = new Map<string, number>()
      slugs.forEach((slug, d) => {
        position.set(slug, d)
      })
      return {
        slugs,
        hashes,
        position,
        days,
        themeIds,
        sketchStart,
        sketchData: sketchData.subarray(0, sketchTotal),
        scales,
      }
    },
  }
}

/** The one-document terms a tick asked for, sorted by hash, with their document and weight. */
export interface RarePostings {
  hashes: Uint32Array
  docs: Uint32Array
  weights: Float32Array
}

function checkHeader(header: Record<string, unknown>, meta: BaseMeta, part: number, kind: string) {
  if (header.gen !== meta.gen || header.part !== part || header.kind !== kind)
    throw new StoredIndexError(`stored related index part ${part} does not belong to its base`)
}

/**
 * Finds which of `terms` are one-document terms of the stored build, reading only the parts
 * whose hash range holds one of them (one at a time).
 */
export async function extractRare(
  meta: BaseMeta,
  docs: Pick<BaseDocs, 'scales'>,
  terms: Iterable<number>,
  readRare: PartReader,
): Promise<RarePostings> {
  const wanted = [...new Set(terms)].sort((a, b) => a - b)
  const hashes: number[] = []
  const found: number[] = []
  const weights: number[] = []
  for (let w = 0, p = 0; p < meta.parts && w < wanted.length; p++) {
    const begin = w
    while (w < wanted.length && partOf(wanted[w] as number, meta.parts) === p) w++
    if (w === begin) continue
    const buffer = await readRare(p)
    if (!buffer) throw new StoredIndexError(`stored related index part ${p} is missing`)
    const { header, sections } = unpack(buffer)
    checkHeader(header, meta, p, 'rare')
    const [pHash, pDoc, pWeight] = sections as [Uint32Array, Uint32Array, Float32Array]
    for (let i = begin; i < w; i++) {
      const hash = wanted[i] as number
      let lo = 0
      let hi = pHash.length - 1
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1
        const v = pHash[mid] as number
        if (v === hash) {
          const d = pDoc[mid] as number
          hashes.push(hash)
          found.push(d)
          weights.push(Math.fround(pWeight[mid] as number) * (docs.scales[d] ?? 0))
          break
        }
        if (v < hash) lo = mid + 1
        else hi = mid - 1
      }
    }
  }
  return {
    hashes: Uint32Array.from(hashes),
    docs: Uint32Array.from(found),
    weights: Float32Array.from(weights),
  }
}

/**
 * The one-document terms among `terms` (one document's own) as flat [hash, document, weight]
 * triples, to store with that document in the overlay: the base never changes under a
 * generation, so later ticks need not read the one-document terms again for it.
 */
export function rareHitsOf(rare: RarePostings, terms: Iterable<number>): number[] {
  const wanted = new Set(terms)
  const out: number[] = []
  for (let i = 0; i < rare.hashes.length; i++) {
    const hash = rare.hashes[i] as number
    if (wanted.has(hash)) out.push(hash, rare.docs[i] as number, rare.weights[i] as number)
  }
  return out
}

/** Every term hash of the given vectors, repeats included. */
export function termsOf(vectors: Iterable<DocVector>): number[] {
  const out: number[] = []
  for (const v of vectors) for (const t of termHashes(v.t)) out.push(t)
  return out
}

/** Each vector's stored hits (rareHitsOf), reading the parts of one-document terms once. */
export async function findRareHits(
  meta: BaseMeta,
  docs: Pick<BaseDocs, 'scales'>,
  vectors: readonly DocVector[],
  readRare: PartReader,
): Promise<number[][]> {
  if (vectors.length === 0) return []
  const found = await extractRare(meta, docs, termsOf(vectors), readRare)
  return vectors.map((v) => rareHitsOf(found, termHashes(v.t)))
}

/** What a document added since the build keeps for the generation (the overlay's `r` and `s`). */
export interface AddedWeight {
  /** its stored hits (rareHitsOf) */
  r: number[]
  /** the scale that makes its weights unit length (updateIndex's `scales`) */
  s: number
}

/**
 * Weighs documents the stored build lacks, or holds in another version, against its statistics,
 * as a tick's index does when it adds them whole: their hits first, since a one-document term
 * they share weighs as a term of two. A document's scale depends on its own terms and the
 * build alone, so weighing a few here gives each the scale a tick weighing all would.
 */
export async function weighAdded(
  meta: BaseMeta,
  docs: BaseDocs,
  config: RelatedConfig,
  vectors: readonly DocVector[],
  read: { part: PartReader; rare: PartReader },
): Promise<AddedWeight[]> {
  const hits = await findRareHits(meta, docs, vectors, read.rare)
  const index = await assembleIndex(meta, docs, config, {
    queries: new Set(),
    terms: termsOf(vectors),
    rare: mergeRareHits(hits),
    readPart: read.part,
  })
  updateIndex(index, vectors)
  return vectors.map((v, i) => ({
    r: hits[i] as number[],
    s: index.added.get(index.position.get(v.slug) as number)?.scale as number,
  }))
}

/** Stored hits (rareHitsOf) of several documents as one RarePostings, sorted by hash. */
export function mergeRareHits(lists: Iterable<readonly number[]>): RarePostings {
  // A one-document term has exactly one posting, so equal hashes are the same posting.
  const byHash = new Map<number, [number, number]>()
  for (const hits of lists) {
    for (let i = 0; i + 2 < hits.length; i += 3) {
      byHash.set(hits[i] as number, [hits[i + 1] as number, hits[i + 2] as number])
    }
  }
  const hashes = Uint32Array.from([...byHash.keys()].sort((a, b) => a - b))
  const docs = new Uint32Array(hashes.length)
  const weights = new Float32Array(hashes.length)
  hashes.forEach((hash, i) => {
    const [doc, weight] = byHash.get(hash) as [number, number]
    docs[i] = doc
    weights[i] = weight
  })
  return { hashes, docs, weights }
}

/** What a tick needs from the stored parts. */
export interface AssembleRequest {
  /** base documents to rank (their forward vectors are taken from the postings) */
  queries: ReadonlySet<number>
  /** further term hashes whose postings and frequency are needed (documents added since) */
  terms: Iterable<number>
  /** the one-document terms among `terms` (extractRare) */
  rare: RarePostings
  /** reads one part's bytes (terms in more than one document); null when it is missing */
  readPart: PartReader
}

function growU32(a: Uint32Array, need: number): Uint32Array {
  if (need <= a.length) return a
  const next = new Uint32Array(Math.max(need, a.length * 2))
  next.set(a)
  return next
}

function growF32(a: Float32Array, need: number): Float32Array {
  if (need <= a.length) return a
  const next = new Float32Array(Math.max(need, a.length * 2))
  next.set(a)
  return next
}

/**
 * Streams the stored parts (one held at a time) into an index holding every base document but
 * only the terms the request needs; ranking a query document in it scores exactly as in the full
 * index. Documents added since the build join it through `updateIndex`, whose terms must be in
 * `request.terms`. Throws when a part is missing or belongs to another base.
 */
export async function assembleIndex(
  meta: BaseMeta,
  docs: BaseDocs,
  config: RelatedConfig,
  request: AssembleRequest,
): Promise<RelatedIndex> {
  const n = meta.n
  const isQuery = new Uint8Array(n)
  let queryCount = 0
  for (const d of request.queries) {
    if (d < n && isQuery[d] === 0) {
      isQuery[d] = 1
      queryCount++
    }
  }
  const wanted = [...new Set(request.terms)].sort((a, b) => a - b)
  let vocab: Uint32Array = new Uint32Array(1024)
  let df: Uint32Array = new Uint32Array(1024)
  let iStart: Uint32Array = new Uint32Array(1025)
  // Postings as [document, weight bits] pairs (RelatedIndex.iPost).
  let iPost: Uint32Array = new Uint32Array(8192)
  let iPostWeight = new Float32Array(iPost.buffer)
  let terms = 0
  let postings = 0
  // Forward entries of the query documents as (document, term id, weight) triples.
  let fDoc: Uint32Array = new Uint32Array(1024)
  let fTermTmp: Uint32Array = new Uint32Array(1024)
  let fWeightTmp: Float32Array = new Float32Array(1024)
  let forward = 0
  let w = 0
  let r = 0
  const { rare } = request
  for (let p = 0; p < meta.parts; p++) {
    const buffer = await request.readPart(p)
    if (!buffer) throw new StoredIndexError(`stored related index part ${p} is missing`)
    const { header, sections } = unpack(buffer)
    checkHeader(header, meta, p, 'common')
    const [pVocab, pDf, pStart, pDoc, pWeight] = sections as [
      Uint32Array,
      Uint32Array,
      Uint32Array,
      Uint32Array,
      Float32Array,
    ]
    const count = pVocab.length
    const keep = new Uint8Array(count)
    // Terms of the query documents, found by scanning the postings for them: every posting of
    // the part (37 MB over the parts at 100k articles), so not when there is no query document,
    // as in a tick that only adds stories.
    for (let t = 0; queryCount > 0 && t < count; t++) {
      const end = pStart[t + 1] as number
      for (let j = pStart[t] as number; j < end; j++) {
        if (isQuery[pDoc[j] as number] === 1) {
          keep[t] = 1
          break
        }
      }
    }
    // Requested terms that fall in this part, by binary search.
    for (; w < wanted.length && partOf(wanted[w] as number, meta.parts) === p; w++) {
      const hash = wanted[w] as number
      let lo = 0
      let hi = count - 1
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1
        const v = pVocab[mid] as number
        if (v === hash) {
          keep[mid] = 1
          break
        }
        if (v < hash) lo = mid + 1
        else hi = mid - 1
      }
    }
    // Kept terms and requested one-document terms of this part, merged in hash order.
    let rEnd = r
    while (rEnd < rare.hashes.length && partOf(rare.hashes[rEnd] as number, meta.parts) === p)
      rEnd++
    for (let t = 0; ; ) {
      while (t < count && keep[t] === 0) t++
      const fromRare =
        r < rEnd && (t >= count || (rare.hashes[r] as number) < (pVocab[t] as number))
      if (!fromRare && t >= count) break
      const begin = fromRare ? r : (pStart[t] as number)
      const end = fromRare ? r + 1 : (pStart[t + 1] as number)
      const docsOf = fromRare ? rare.docs : pDoc
      const weightsOf = fromRare ? rare.weights : pWeight
      vocab = growU32(vocab, terms + 1)
      df = growU32(df, terms + 1)
      iStart = growU32(iStart, terms + 2)
      const grown = growU32(iPost, 2 * (postings + end - begin))
      if (grown !== iPost) {
        iPost = grown
        iPostWeight = new Float32Array(iPost.buffer)
      }
      vocab[terms] = fromRare ? (rare.hashes[r] as number) : (pVocab[t] as number)
      df[terms] = fromRare ? 1 : (pDf[t] as number)
      // One-document terms come scaled already (extractRare); a part's weights are scaled here.
      const scales = fromRare ? null : docs.scales
      for (let j = begin; j < end; j++) {
        const d = docsOf[j] as number
        const weight = scales
          ? (weightsOf[j] as number) * (scales[d] as number)
          : (weightsOf[j] as number)
        iPost[2 * postings] = d
        iPostWeight[2 * postings + 1] = weight
        postings++
        if (isQuery[d] === 1) {
          fDoc = growU32(fDoc, forward + 1)
          fTermTmp = growU32(fTermTmp, forward + 1)
          fWeightTmp = growF32(fWeightTmp, forward + 1)
          fDoc[forward] = d
          fTermTmp[forward] = terms
          fWeightTmp[forward] = weight
          forward++
        }
      }
      terms++
      iStart[terms] = postings
      if (fromRare) r++
      else t++
    }
  }
  // Forward vectors by counting sort on the document (term ids stay ascending within each).
  const fStart = new Uint32Array(n + 1)
  for (let i = 0; i < forward; i++) {
    const d = fDoc[i] as number
    fStart[d + 1] = (fStart[d + 1] as number) + 1
  }
  for (let d = 0; d < n; d++) fStart[d + 1] = (fStart[d + 1] as number) + (fStart[d] as number)
  const fill = fStart.slice(0, n)
  const fTerm = new Uint32Array(forward)
  const fWeight = new Float32Array(forward)
  for (let i = 0; i < forward; i++) {
    const d = fDoc[i] as number
    const at = fill[d] as number
    fTerm[at] = fTermTmp[i] as number
    fWeight[at] = fWeightTmp[i] as number
    fill[d] = at + 1
  }
  const idf = new Float64Array(terms)
  for (let t = 0; t < terms; t++) {
    const f = df[t] as number
    idf[t] = idfFor(config, n, f)
  }
  // The postings cut to size, with the view of their weights over the new buffer.
  const pairs = iPost.slice(0, 2 * postings)
  const themeLists = meta.themeLists.map((l) => Object.freeze([...l]) as readonly string[])
  const themeIdOf = new Map<string, number>()
  themeLists.forEach((l, i) => {
    themeIdOf.set(l.join('\n'), i)
  })
  return {
    config,
    slugs: docs.slugs.slice(),
    position: new LayeredPositions(docs.position),
    days: docs.days,
    themeIds: docs.themeIds,
    themeLists,
    themeIdOf,
    sketchData: docs.sketchData,
    sketchStart: docs.sketchStart,
    vocab: vocab.slice(0, terms),
    idf,
    df: df.slice(0, terms),
    fStart,
    fTerm,
    fWeight,
    // Its forward vectors hold only the terms this request asked for: a query reads them all.
    fShared: fStart.slice(1),
    iStart: iStart.slice(0, terms + 1),
    iPost: pairs,
    iPostWeight: new Float32Array(pairs.buffer),
    maxDf: meta.maxDf,
    avgLength: meta.avgLength,
    baseCount: n,
    ...noUpdates(n),
  }
}
