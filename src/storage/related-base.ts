// The stored related index of large sites (refresh job only, D1): the last full build split into
// a document table and term parts (see related/base-index.ts), plus an overlay of the vectors of
// stories changed since that build. A rebuild writes a new generation's values first and its
// meta last, then deletes every other generation: a tick reads the meta, then values carrying
// the same generation, so a half-written or half-deleted base is refused, never used.
// The overlay is a cache the job checks against its catalog every tick, so a lost or stale one
// (two overlapping ticks) heals.
import type { BaseDocs, BaseMeta, EncodedBase, PartReader } from '../related/base-index'
import { BASE_FORMAT, docsDecoder } from '../related/base-index'
import type { DocVector } from '../related/doc-vector'
import type { FinishedPart, ShardSlice } from '../related/sliced-build'
import { getMany } from './bulk-get'
import { parseObject } from './job-state'
import { keys } from './keys'
import { type ScratchRead, scratchReader } from './scratch-read'

/**
 * Vectors of stories changed since the base was built, each with its article's hash and the
 * base's one-document terms it shares (`r`: flat [hash, document, weight] triples), found once
 * when it joined, so later ticks read the base's one-document terms only for newcomers.
 */
export interface Overlay {
  version: 1
  gen: string
  docs: Record<string, OverlayDoc>
  /**
   * documents of the stored build no longer published whose lists the related step has found
   * (absent in overlays written before it recorded them)
   */
  gone?: string[]
  /** how many stories were published when it was written: fewer now means one left */
  published?: number
}

/**
 * One story of the overlay; `r` and `s` are absent when written by an older version (found
 * again). `s` is the scale that makes its weights unit length against the generation's statistics
 * (updateIndex's `scales`): with it a tick adds the story without streaming every term it holds.
 */
export interface OverlayDoc {
  h: string
  v: DocVector
  r?: number[]
  s?: number
}

/** What a tick reads first: the meta (null when missing or unreadable) and the overlay. */
export interface BaseHead {
  meta: BaseMeta | null
  overlay: Overlay | null
  /** the overlay's bytes as read, to skip an unchanged write */
  overlayBytes: string | null
}

function isMeta(v: unknown): v is BaseMeta {
  const m = v as BaseMeta
  return (
    !!m &&
    m.version === BASE_FORMAT &&
    typeof m.gen === 'string' &&
    typeof m.configHash === 'string' &&
    Number.isInteger(m.n) &&
    Number.isInteger(m.parts) &&
    Number.isInteger(m.chunks) &&
    Array.isArray(m.themeLists)
  )
}

/** Reads the meta and the overlay in one bulk get. */
export async function loadBaseHead(kv: KVNamespace): Promise<BaseHead> {
  const values = await getMany(kv, [keys.relatedMeta, keys.relatedOverlay])
  const meta = parseObject(values.get(keys.relatedMeta))
  const overlayBytes = values.get(keys.relatedOverlay) ?? null
  const overlay = parseObject(overlayBytes) as Overlay | null
  const usable =
    overlay?.version === 1 &&
    typeof overlay.gen === 'string' &&
    !!overlay.docs &&
    typeof overlay.docs === 'object' &&
    (overlay.gone === undefined ||
      (Array.isArray(overlay.gone) && overlay.gone.every((s) => typeof s === 'string')))
  return {
    meta: isMeta(meta) ? meta : null,
    overlay: usable ? overlay : null,
    overlayBytes,
  }
}

/** Reads the meta alone (null when missing or unreadable). */
export async function loadBaseMeta(kv: KVNamespace): Promise<BaseMeta | null> {
  const meta = parseObject(await kv.get(keys.relatedMeta))
  return isMeta(meta) ? meta : null
}

/**
 * Reads the document table (one read per chunk, decoded as read, into a buffer reused for each:
 * 14 MB at 100k articles); null when a chunk is missing or foreign.
 */
export async function loadBaseDocs(kv: KVNamespace, meta: BaseMeta): Promise<BaseDocs | null> {
  const read = scratchReader(kv)
  const decoder = docsDecoder(meta)
  // Whatever a damaged chunk makes decoding throw, the table cannot be used; a failed read is
  // the tick's to report.
  for (let i = 0; i < meta.chunks; i++) {
    const bytes = await read(keys.relatedChunk(meta.gen, i))
    if (!bytes) return null
    try {
      decoder.add(bytes)
    } catch {
      return null
    }
  }
  try {
    return decoder.finish()
  } catch {
    return null
  }
}

/**
 * Reads one term part at a time into a buffer it reuses (scratchReader): a +100 tick at 100k
 * articles reads every part and every part of one-document terms, 80 MB.
 */
export function basePartReader(kv: KVNamespace, meta: BaseMeta): PartReader {
  const read = scratchReader(kv)
  return (part) => read(keys.relatedPart(meta.gen, part))
}

/** Reads the one-document terms of one part, the same way. */
export function baseRareReader(kv: KVNamespace, meta: BaseMeta): PartReader {
  const read = scratchReader(kv)
  return (part) => read(keys.relatedRare(meta.gen, part))
}

/** KV values a stored base takes besides the meta: chunks, parts, one-document terms. */
export function baseValues(meta: BaseMeta): number {
  return meta.chunks + 2 * meta.parts
}

/** KV writes a base takes: its values, the meta and the overlay. */
export function baseWrites(base: EncodedBase): number {
  return baseValues(base.meta) + 2
}

/**
 * Writes a new generation (values, then the meta, then an empty overlay), then deletes the values
 * of every other generation (found with list(): ones an overlapping tick left are swept too).
 * Returns how many deletes it made.
 */
export async function writeBase(kv: KVNamespace, base: EncodedBase): Promise<number> {
  const { gen } = base.meta
  for (const [i, bytes] of base.chunks.entries()) await kv.put(keys.relatedChunk(gen, i), bytes)
  for (const [i, bytes] of base.parts.entries()) await kv.put(keys.relatedPart(gen, i), bytes)
  for (const [i, bytes] of base.rare.entries()) await kv.put(keys.relatedRare(gen, i), bytes)
  await kv.put(keys.relatedMeta, JSON.stringify(base.meta))
  await kv.put(keys.relatedOverlay, JSON.stringify({ version: 1, gen, docs: {}, gone: [] }))
  const own = keys.relatedGenPrefix(gen)
  let deletes = 0
  let cursor: string | undefined
  do {
    const page = await kv.list({ prefix: keys.relatedGensPrefix, ...(cursor ? { cursor } : {}) })
    for (const { name } of page.keys) {
      if (name.startsWith(own)) continue
      await kv.delete(name)
      deletes++
    }
    cursor = page.list_complete ? undefined : page.cursor
  } while (cursor)
  return deletes
}

/** Writes the overlay when its bytes changed; returns whether it wrote. */
export async function saveOverlay(
  kv: KVNamespace,
  head: BaseHead,
  overlay: Overlay,
): Promise<boolean> {
  const bytes = overlayBytes(overlay)
  if (bytes === head.overlayBytes) return false
  await kv.put(keys.relatedOverlay, bytes)
  head.overlayBytes = bytes
  return true
}

/** An overlay's stored bytes, its stories by slug. */
function overlayBytes(overlay: Overlay): string {
  const sorted: Overlay['docs'] = {}
  for (const slug of Object.keys(overlay.docs).sort()) {
    sorted[slug] = overlay.docs[slug] as Overlay['docs'][string]
  }
  // Every field: an overlay saved without `gone` made the next tick take every stored story that
  // had left as found already, so a story of the stored build that left stayed in its peers' lists.
  return JSON.stringify({
    version: 1,
    gen: overlay.gen,
    docs: sorted,
    ...(overlay.gone ? { gone: [...overlay.gone].sort() } : {}),
    ...(overlay.published !== undefined ? { published: overlay.published } : {}),
  })
}

// A build in slices (jobs/build-related.ts): its intermediate values live under their own prefix
// and its finished values under its generation, unread until its meta is written.

/** Writes what a build's first phase made of one shard: its table, then its runs. */
export async function writeShardSlice(
  kv: KVNamespace,
  gen: string,
  shard: number,
  slice: ShardSlice,
): Promise<void> {
  await kv.put(keys.relatedBuild(gen, `table:${shard}`), slice.table)
  for (const [g, run] of slice.runs.entries())
    await kv.put(keys.relatedBuild(gen, `run:${shard}:${g}`), run)
}

/** Reads a build's intermediate values (`table:3`, `run:3:7`, `sumsq`) into one reused buffer. */
export function buildValueReader(kv: KVNamespace, gen: string): ScratchRead {
  const read = scratchReader(kv)
  return (name) => read(keys.relatedBuild(gen, name))
}

export async function writeBuildValue(
  kv: KVNamespace,
  gen: string,
  name: string,
  bytes: Uint8Array,
): Promise<void> {
  await kv.put(keys.relatedBuild(gen, name), bytes)
}

/** Writes finished term parts of a generation (not read until its meta is written). */
export async function writeBaseParts(
  kv: KVNamespace,
  gen: string,
  parts: readonly FinishedPart[],
): Promise<void> {
  for (const { part, common, rare } of parts) {
    await kv.put(keys.relatedPart(gen, part), common)
    await kv.put(keys.relatedRare(gen, part), rare)
  }
}

/**
 * Makes a generation built in slices the current one: its chunks, then its meta, then its first
 * overlay. The values of other generations and of builds are left to sweepRelated.
 */
export async function publishBase(
  kv: KVNamespace,
  meta: BaseMeta,
  chunks: readonly Uint8Array[],
  overlay: Overlay,
): Promise<void> {
  for (const [i, bytes] of chunks.entries()) await kv.put(keys.relatedChunk(meta.gen, i), bytes)
  await kv.put(keys.relatedMeta, JSON.stringify(meta))
  await kv.put(keys.relatedOverlay, overlayBytes(overlay))
}

/**
 * Deletes the values of every generation but `gen` and of every build but `build`, while
 * `canDelete` allows. Returns how many it deleted and whether none is left.
 */
export async function sweepRelated(
  kv: KVNamespace,
  keep: { gen: string | null; build: string | null },
  canDelete: () => boolean,
): Promise<{ deleted: number; done: boolean }> {
  let deleted = 0
  const kept = [
    keep.gen === null ? null : keys.relatedGenPrefix(keep.gen),
    keep.build === null ? null : keys.relatedBuildPrefix(keep.build),
    // A build's finished parts are under its generation until its meta names it.
    keep.build === null ? null : keys.relatedGenPrefix(keep.build),
  ].filter((p): p is string => p !== null)
  for (const prefix of [keys.relatedGensPrefix, keys.relatedBuildsPrefix]) {
    let cursor: string | undefined
    do {
      const page = await kv.list({ prefix, ...(cursor ? { cursor } : {}) })
      for (const { name } of page.keys) {
        if (kept.some((p) => name.startsWith(p))) continue
        if (!canDelete()) return { deleted, done: false }
        await kv.delete(name)
        deleted++
      }
      cursor = page.list_complete ? undefined : page.cursor
    } while (cursor)
  }
  return { deleted, done: true }
}
