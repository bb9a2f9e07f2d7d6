// The stored related index (base-index.ts) built in slices, so that no step holds the whole
// corpus: at 100k articles building it at once took 4.6 s of a Worker's CPU and 521 MB of memory.
// A posting's weight depends on the whole corpus (its term's document frequency, the average
// length, its document's norm over every term), so the build runs in phases, each made of slices
// a tick can take a few of, with what a slice makes stored in between:
//   1. shards: one shard of documents becomes its table (slugs, hashes, days, themes, sketches)
//      and one run per group of term parts: its (term, document, weight byte) triples, sorted;
//   2. groups: one group's runs from every shard become its final term parts (terms with their
//      document frequency and raw weights), and each document's sum of squares over its terms
//      is added to a running sum;
//   3. once every group is in, the tables become the document-table chunks, with each
//      document's scale (1 / the square root of its sum), and the meta.
// Ranking multiplies a stored weight by its document's scale as it reads it (assembleIndex), so
// no part is written twice. The result ranks as a full build does; scores agree to about 1e-7,
// since a document's squares are summed by group rather than in vector order
// (tests/unit/sliced-build.test.ts).
// Everything here is pure (bytes in, bytes out); storage/related-base.ts owns the KV keys.
import { utcMillis } from '../model/utc-time.ts'
import {
  BASE_FORMAT,
  type BaseDocs,
  type BaseMeta,
  DOCS_PER_CHUNK,
  type EncodedBase,
  pack,
  partCount,
  partOf,
  type StoredBytes,
  StoredIndexError,
  unpack,
} from './base-index.ts'
import { decodeBytes } from './codec.ts'
import type { RelatedConfig } from './config.ts'
import { type DocVector, unpackHashes } from './doc-vector.ts'
import {
  grow,
  idfFor,
  lengthNorm,
  maxDfFor,
  saturate,
  TF_OF_BYTE,
  termHashAt,
  themeIdArray,
} from './related-index.ts'

const TERM_BYTES = 5
const DAY_MS = 86_400_000
/** Groups the merge takes one at a time: at 100k articles 290k to 1.1M postings each. */
const MAX_GROUPS = 16

/** What every slice of one build shares; fixed when the build starts. */
export interface BuildShape {
  /** the generation the finished index is stored under (every value repeats it) */
  gen: string
  /** term parts of the finished index (BaseMeta.parts) */
  parts: number
  /** groups of term parts the merge takes one at a time, a power of two, at most `parts` */
  groups: number
}

/** The shape of a build of about `n` documents (the count may move while it runs). */
export function buildShape(gen: string, n: number, parts = partCount(n)): BuildShape {
  return { gen, parts, groups: Math.min(parts, MAX_GROUPS) }
}

/** The term parts of group `g`: a range of consecutive part numbers. */
export function partsOfGroup(shape: BuildShape, g: number): number[] {
  const per = shape.parts / shape.groups
  return Array.from({ length: per }, (_, i) => g * per + i)
}

function fnv1a(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** What phase 1 made of one shard. */
export interface ShardSlice {
  /** the shard's document table */
  table: Uint8Array
  /** one run per group, by group number */
  runs: Uint8Array[]
  /** documents in the shard */
  count: number
  /** sum of their lengths (for the average length) */
  length: number
  /** names the documents and versions the slice holds: a later slice checks what it reads */
  tag: string
  /** (term, document) triples in each run, by group: what a group's merge costs */
  triples: number[]
}

/**
 * A stable sort of positions by their 32-bit keys (LSD radix, 16 bits a pass): positions with
 * equal keys keep their order, so triples laid out by document stay by document within a term.
 */
function orderByKey(keys: Uint32Array, count: number): Uint32Array {
  let order = new Uint32Array(count)
  let next = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  for (const shift of [0, 16]) {
    const starts = new Uint32Array(0x10001)
    for (let i = 0; i < count; i++) {
      const b = ((keys[i] as number) >>> shift) & 0xffff
      starts[b + 1] = (starts[b + 1] as number) + 1
    }
    for (let b = 0; b < 0x10000; b++)
      starts[b + 1] = (starts[b + 1] as number) + (starts[b] as number)
    for (let i = 0; i < count; i++) {
      const p = order[i] as number
      const b = ((keys[p] as number) >>> shift) & 0xffff
      const at = starts[b] as number
      next[at] = p
      starts[b] = at + 1
    }
    ;[order, next] = [next, order]
  }
  return order
}

/**
 * Phase 1: one shard's documents (a catalog shard's published vectors) as its table and runs.
 * `hashes` is each document's article hash ('' for a vector older than its article).
 */
export function sliceShard(
  shape: BuildShape,
  shard: number,
  vectors: readonly DocVector[],
  hashes: ReadonlyMap<string, string>,
): ShardSlice {
  const docs = [...vectors].sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0))
  const count = docs.length
  const lengths = new Float64Array(count)
  const days = new Float64Array(count)
  const sketchStart = new Uint32Array(count + 1)
  let sketchData: Uint32Array = new Uint32Array(count * 24)
  const themeIds: number[] = []
  const themeLists: string[][] = []
  const themeIdOf = new Map<string, number>()
  let termHash: Uint32Array = new Uint32Array(count * 96)
  let termDoc: Uint32Array = new Uint32Array(count * 96)
  let termTf: Uint8Array = new Uint8Array(count * 96)
  let total = 0
  let length = 0
  let tag = fnv1a(`${shape.gen}\n${shard}`)
  docs.forEach((doc, d) => {
    const hash = hashes.get(doc.slug) ?? ''
    tag = fnv1a(`${doc.slug} ${hash}\n`, tag)
    lengths[d] = doc.n
    length += doc.n
    days[d] = utcMillis(doc.publishedAt) / DAY_MS
    const key = [...doc.themes].sort().join('\n')
    let id = themeIdOf.get(key)
    if (id === undefined) {
      id = themeLists.length
      themeLists.push(key ? key.split('\n') : [])
      themeIdOf.set(key, id)
    }
    themeIds.push(id)
    const sketch = unpackHashes(doc.d)
    const s0 = sketchStart[d] as number
    sketchData = grow(sketchData, s0 + sketch.length)
    sketchData.set(sketch, s0)
    sketchStart[d + 1] = s0 + sketch.length
    const bytes = decodeBytes(doc.t)
    const terms = Math.floor(bytes.length / TERM_BYTES)
    termHash = grow(termHash, total + terms)
    termDoc = grow(termDoc, total + terms)
    termTf = grow(termTf, total + terms)
    for (let o = 0; o + TERM_BYTES <= bytes.length; o += TERM_BYTES) {
      termHash[total] = termHashAt(bytes, o)
      termDoc[total] = d
      termTf[total] = bytes[o + 4] as number
      total++
    }
  })
  const tagText = `${count}-${tag.toString(36)}`
  const table = pack(
    {
      gen: shape.gen,
      shard,
      kind: 'table',
      tag: tagText,
      slugs: docs.map((doc) => doc.slug),
      hashes: docs.map((doc) => hashes.get(doc.slug) ?? ''),
      themeLists,
    },
    [days, Uint32Array.from(themeIds), sketchStart, sketchData.slice(0, sketchStart[count])],
  )
  // Sorted by hash, documents ascending within a term (the sort is stable); a group's triples
  // are one range of that order, since a group is the hashes' top bits.
  const order = orderByKey(termHash, total)
  const runs: Uint8Array[] = []
  const triples: number[] = []
  let at = 0
  for (let g = 0; g < shape.groups; g++) {
    const begin = at
    while (at < total && partOf(termHash[order[at] as number] as number, shape.groups) === g) at++
    const size = at - begin
    triples.push(size)
    const h = new Uint32Array(size)
    const dd = new Uint32Array(size)
    const tf = new Uint8Array(size)
    for (let i = 0; i < size; i++) {
      const p = order[begin + i] as number
      h[i] = termHash[p] as number
      dd[i] = termDoc[p] as number
      tf[i] = termTf[p] as number
    }
    runs.push(
      pack({ gen: shape.gen, shard, group: g, kind: 'run', tag: tagText }, [lengths, h, dd, tf]),
    )
  }
  return { table, runs, count, length, tag: tagText, triples }
}

/** What phase 2 and 3 know of every shard from phase 1 (kept in the job's cursor). */
export interface ShardInfo {
  count: number
  length: number
  tag: string
  /** ShardSlice's `triples` (absent in cursors written before they were kept) */
  triples?: number[]
}

/**
 * Group `g`'s share of the build's (term, document) triples, what its merge costs; an equal
 * share when a shard's counts are not known. Groups are ranges of term hashes, yet they differ:
 * a vector keeps the lowest hashes among its lightest terms past `maxTerms`, so at 100k articles
 * group 0 held 1.10M triples and group 15 0.29M (3.8 times fewer).
 */
export function groupShare(shards: readonly ShardInfo[], g: number, groups: number): number {
  let mine = 0
  let all = 0
  for (const info of shards) {
    if (!info.triples || info.triples.length !== groups) return 1 / groups
    mine += info.triples[g] ?? 0
    for (const t of info.triples) all += t
  }
  return all > 0 ? mine / all : 1 / groups
}

/** Corpus figures every merge needs, from the shards' infos. */
export interface BuildTotals {
  n: number
  avgLength: number
  /** the first document number of each shard */
  offsets: number[]
}

export function buildTotals(shards: readonly ShardInfo[]): BuildTotals {
  let n = 0
  let length = 0
  const offsets: number[] = []
  for (const s of shards) {
    offsets.push(n)
    n += s.count
    length += s.length
  }
  return { n, avgLength: n > 0 ? Math.max(1, length / n) : 1, offsets }
}

function checkSlice(
  header: Record<string, unknown>,
  shape: BuildShape,
  kind: string,
  fields: Record<string, unknown>,
) {
  if (header.gen !== shape.gen || header.kind !== kind)
    throw new StoredIndexError(`related index build: a ${kind} belongs to another build`)
  for (const [name, value] of Object.entries(fields)) {
    if (header[name] !== value)
      throw new StoredIndexError(`related index build: a ${kind} does not match its ${name}`)
  }
}

/** One term part of a finished index: its terms in more than one document, and the others. */
export interface FinishedPart {
  part: number
  common: Uint8Array
  rare: Uint8Array
}

/**
 * A shard's run or table, read in shard order and checked against what phase 1 recorded of it.
 */
function shardValue(
  shape: BuildShape,
  shards: readonly ShardInfo[],
  expected: number,
  shard: number,
  value: StoredBytes,
  kind: 'run' | 'table',
  fields: Record<string, unknown> = {},
) {
  if (shard !== expected) throw new Error(`related index build: ${kind}s read out of order`)
  const info = shards[shard] as ShardInfo
  const { header, sections } = unpack(value)
  checkSlice(header, shape, kind, { shard, tag: info.tag, ...fields })
  return { info, header, sections }
}

/** Phase 2 for one group: its runs added shard by shard, in shard order. */
export interface GroupMerger {
  add(shard: number, run: StoredBytes): void
  /**
   * The group's term parts, with raw weights; adds each document's squared weights over the
   * group's terms into `sumsq` (one slot per document number).
   */
  finish(sumsq: Float64Array): FinishedPart[]
}

export function groupMerger(
  shape: BuildShape,
  group: number,
  shards: readonly ShardInfo[],
  config: RelatedConfig,
): GroupMerger {
  const { n, avgLength, offsets } = buildTotals(shards)
  const norms = new Float64Array(n)
  let hashes: Uint32Array = new Uint32Array(1 << 16)
  let docs: Uint32Array = new Uint32Array(1 << 16)
  let tfs: Uint8Array = new Uint8Array(1 << 16)
  let total = 0
  let next = 0
  return {
    add(shard, run) {
      const { info, sections } = shardValue(shape, shards, next, shard, run, 'run', { group })
      next++
      const [lengths, h, d, tf] = sections as [Float64Array, Uint32Array, Uint32Array, Uint8Array]
      if (lengths.length !== info.count)
        throw new StoredIndexError('related index build: a run does not match its shard')
      const offset = offsets[shard] as number
      for (let i = 0; i < lengths.length; i++)
        norms[offset + i] = lengthNorm(config, lengths[i] as number, avgLength)
      hashes = grow(hashes, total + h.length)
      docs = grow(docs, total + h.length)
      tfs = grow(tfs, total + h.length)
      hashes.set(h, total)
      tfs.set(tf, total)
      for (let i = 0; i < d.length; i++) docs[total + i] = offset + (d[i] as number)
      total += h.length
    },
    finish(sumsq) {
      if (next !== shards.length) throw new Error('related index build: a shard was not merged')
      // Runs came in shard order and each by document, so a stable sort by hash leaves every
      // term's postings in ascending document order, as a full build has them.
      const order = orderByKey(hashes, total)
      const maxDf = maxDfFor(config, n)
      const out: FinishedPart[] = []
      let i = 0
      for (const part of partsOfGroup(shape, group)) {
        const commonHash: number[] = []
        const commonDf: number[] = []
        const commonStart: number[] = [0]
        const cDocs: number[] = []
        const cWeights: number[] = []
        const rareHash: number[] = []
        const rareDoc: number[] = []
        const rareWeight: number[] = []
        while (i < total && partOf(hashes[order[i] as number] as number, shape.parts) === part) {
          const hash = hashes[order[i] as number] as number
          let end = i
          while (end < total && hashes[order[end] as number] === hash) end++
          const f = end - i
          const idf = idfFor(config, n, f)
          // Terms in too many documents weigh in every norm but have no postings (finishIndex),
          // and stay listed with their frequency; a term of one document goes with the rare ones.
          const listed = f <= maxDf
          for (; i < end; i++) {
            const p = order[i] as number
            const d = docs[p] as number
            const w =
              saturate(config, TF_OF_BYTE[tfs[p] as number] as number, norms[d] as number) * idf
            sumsq[d] = (sumsq[d] as number) + w * w
            if (!listed) continue
            if (f === 1) {
              rareHash.push(hash)
              rareDoc.push(d)
              rareWeight.push(w)
            } else {
              cDocs.push(d)
              cWeights.push(w)
            }
          }
          if (f > 1) {
            commonHash.push(hash)
            commonDf.push(f)
            commonStart.push(cDocs.length)
          }
        }
        out.push({
          part,
          common: pack({ gen: shape.gen, part, kind: 'common' }, [
            Uint32Array.from(commonHash),
            Uint32Array.from(commonDf),
            Uint32Array.from(commonStart),
            Uint32Array.from(cDocs),
            Float32Array.from(cWeights),
          ]),
          rare: pack({ gen: shape.gen, part, kind: 'rare' }, [
            Uint32Array.from(rareHash),
            Uint32Array.from(rareDoc),
            Float32Array.from(rareWeight),
          ]),
        })
      }
      if (i !== total) throw new StoredIndexError('related index build: a term is out of its group')
      return out
    },
  }
}

/** Each document's scale (1 / the square root of its summed squares), as a full build's norm. */
export function scalesOf(sumsq: Float64Array): Float64Array {
  return sumsq.map((s) => (s > 0 ? 1 / Math.sqrt(s) : 0))
}

/** The last slice: the shards' tables, in shard order, as the document-table chunks and meta. */
export interface TableJoiner {
  add(shard: number, table: StoredBytes): void
  /** the chunks and meta, each document with its scale (scalesOf) */
  finish(scales: Float64Array): {
    meta: BaseMeta
    chunks: Uint8Array[]
    /** the table the chunks hold, as decodeDocs reads it back */
    docs: BaseDocs
  }
}

export function tableJoiner(
  shape: BuildShape,
  shards: readonly ShardInfo[],
  config: RelatedConfig,
  configHash: string,
): TableJoiner {
  const { n, avgLength, offsets } = buildTotals(shards)
  const slugs: string[] = []
  const hashes: string[] = []
  const days = new Float64Array(n)
  const themeIds = new Uint32Array(n)
  const themeLists: string[][] = []
  const themeIdOf = new Map<string, number>()
  const sketchStart = new Uint32Array(n + 1)
  let sketchData: Uint32Array = new Uint32Array(n * 24)
  let next = 0
  return {
    add(shard, table) {
      const { info, header, sections } = shardValue(shape, shards, next, shard, table, 'table')
      next++
      const [d, th, ss, sd] = sections as [Float64Array, Uint32Array, Uint32Array, Uint32Array]
      const own = header.themeLists as string[][]
      const offset = offsets[shard] as number
      if (d.length !== info.count)
        throw new StoredIndexError('related index build: a table does not match its shard')
      days.set(d, offset)
      for (let i = 0; i < th.length; i++) {
        const list = own[th[i] as number] ?? []
        const key = list.join('\n')
        let id = themeIdOf.get(key)
        if (id === undefined) {
          id = themeLists.length
          themeLists.push(list)
          themeIdOf.set(key, id)
        }
        themeIds[offset + i] = id
      }
      const s0 = sketchStart[offset] as number
      sketchData = grow(sketchData, s0 + sd.length)
      sketchData.set(sd, s0)
      for (let i = 1; i < ss.length; i++) sketchStart[offset + i] = s0 + (ss[i] as number)
      for (const slug of header.slugs as string[]) slugs.push(slug)
      for (const hash of header.hashes as string[]) hashes.push(hash)
    },
    finish(scales) {
      if (next !== shards.length || slugs.length !== n || scales.length !== n)
        throw new Error('related index build: a table was not joined')
      const chunks: Uint8Array[] = []
      const chunkCount = Math.max(1, Math.ceil(n / DOCS_PER_CHUNK))
      for (let c = 0; c < chunkCount; c++) {
        const first = c * DOCS_PER_CHUNK
        const last = Math.min(n, first + DOCS_PER_CHUNK)
        const s0 = sketchStart[first] as number
        const s1 = sketchStart[last] as number
        const start = new Uint32Array(last - first + 1)
        for (let d = first; d <= last; d++) start[d - first] = (sketchStart[d] as number) - s0
        chunks.push(
          pack(
            {
              gen: shape.gen,
              first,
              slugs: slugs.slice(first, last),
              hashes: hashes.slice(first, last),
            },
            [
              days.slice(first, last),
              themeIds.slice(first, last),
              start,
              sketchData.slice(s0, s1),
              scales.slice(first, last),
            ],
          ),
        )
      }
      // Narrowed as decodeDocs narrows them: ranking reads one for every candidate.
      const narrow = themeIdArray(n, themeLists.length)
      narrow.set(themeIds)
      const position = new Map<string, number>()
      slugs.forEach((slug, d) => {
        position.set(slug, d)
      })
      return {
        meta: {
          version: BASE_FORMAT,
          gen: shape.gen,
          configHash,
          n,
          parts: shape.parts,
          chunks: chunks.length,
          avgLength,
          maxDf: maxDfFor(config, n),
          themeLists,
        },
        chunks,
        docs: {
          slugs,
          hashes,
          position,
          days,
          themeIds: narrow,
          sketchStart,
          sketchData: sketchData.subarray(0, sketchStart[n]),
          scales,
        },
      }
    },
  }
}

/**
 * Every phase at once, in memory: the same stored values a build in slices writes, for a corpus
 * split into `shards` (by the caller's placement). The tests compare it with a build at once.
 */
export function buildAllSlices(
  gen: string,
  shards: ReadonlyArray<readonly DocVector[]>,
  hashes: ReadonlyMap<string, string>,
  config: RelatedConfig,
  configHash: string,
  partCountWanted?: number,
): EncodedBase & { docs: BaseDocs } {
  let count = 0
  for (const s of shards) count += s.length
  const shape = buildShape(gen, count, partCountWanted)
  const slices = shards.map((docs, s) => sliceShard(shape, s, docs, hashes))
  const infos = slices.map(({ count, length, tag }) => ({ count, length, tag }))
  const { n } = buildTotals(infos)
  const sumsq = new Float64Array(n)
  const parts: Uint8Array[] = []
  const rare: Uint8Array[] = []
  for (let g = 0; g < shape.groups; g++) {
    const merger = groupMerger(shape, g, infos, config)
    slices.forEach((slice, s) => {
      merger.add(s, slice.runs[g] as Uint8Array)
    })
    for (const out of merger.finish(sumsq)) {
      parts[out.part] = out.common
      rare[out.part] = out.rare
    }
  }
  const joiner = tableJoiner(shape, infos, config, configHash)
  slices.forEach((slice, s) => {
    joiner.add(s, slice.table)
  })
  const { meta, chunks, docs } = joiner.finish(scalesOf(sumsq))
  return { meta, chunks, parts, rare, docs }
}

/** The running sums of squares of a build's documents, with the groups summed into them. */
export interface BuildSums {
  groups: number[]
  sums: Float64Array
}

export function encodeSums(shape: BuildShape, sums: BuildSums): Uint8Array {
  return pack({ gen: shape.gen, kind: 'sumsq', groups: [...sums.groups].sort((a, b) => a - b) }, [
    sums.sums,
  ])
}

/** The stored sums, or null when they are of another build or another number of documents. */
export function decodeSums(shape: BuildShape, bytes: StoredBytes, n: number): BuildSums | null {
  const { header, sections } = unpack(bytes)
  const [sums] = sections as [Float64Array]
  if (header.gen !== shape.gen || header.kind !== 'sumsq' || !(sums instanceof Float64Array))
    return null
  if (sums.length !== n || !Array.isArray(header.groups)) return null
  return { groups: header.groups as number[], sums: sums.slice() }
}
