// The related step's build of the stored related index in slices (large sites): a few slices a
// tick (related/sliced-build.ts), each written to KV for the next, while ticks keep ranking
// against the index the last build stored. At 100k articles a build at once took 4.6 s of a
// Worker's CPU and 521 MB of memory; a slice is one shard of 16, or one group of term parts.
// The cursor records what each slice wrote, and a slice checks what it reads against it: values
// written by an overlapping invocation, or lost, start the build again. The meta goes last, so a
// build is used only once whole (DESIGN D4). The values of finished or dropped builds, and of
// replaced generations, are deleted by a sweep within later ticks' write budgets.

import {
  type AddedWeight,
  type BaseDocs,
  type BaseMeta,
  DOCS_PER_CHUNK,
  StoredIndexError,
  weighAdded,
} from '../related/base-index'
import type { RelatedConfig } from '../related/config'
import type { DocVector } from '../related/doc-vector'
import {
  type BuildShape,
  type BuildSums,
  buildShape,
  buildTotals,
  decodeSums,
  encodeSums,
  groupMerger,
  groupShare,
  type ShardInfo,
  scalesOf,
  sliceShard,
  tableJoiner,
} from '../related/sliced-build'
import { contentHash } from '../storage/content-hash'
import {
  type CatalogEntry,
  ensureCorpus,
  type JobCursor,
  type JobState,
  parseObject,
  type RelatedBuild,
} from '../storage/job-state'
import { CATALOG_SHARDS, shardOf } from '../storage/keys'
import {
  basePartReader,
  baseRareReader,
  buildValueReader,
  type Overlay,
  publishBase,
  sweepRelated,
  writeBaseParts,
  writeBuildValue,
  writeShardSlice,
} from '../storage/related-base'

/**
 * Work the build takes per tick, in documents: slicing a shard costs its documents, merging a
 * group its share of the site's documents times MERGE_WEIGHT (mergeCost). At 100k articles
 * 12,500 is two of 16 shards, or two to five of 16 groups, a tick that ranks nothing else.
 */
export const BUILD_DOCS_PER_TICK = 12_500

/**
 * Merging every group costs half what slicing as many documents does, each group its share of
 * the triples (groupShare). In the build's own invocation at 100k a tick of two merges took 261
 * to 452 ms of Worker CPU, one of two slices 400 to 513, one with no build 154 to 237. Counted
 * the same, the merges took 8 of the build's 17 ticks, and the stories it carried when it ended
 * (1,251 at 100 a tick) started the next build at once. Counted as equal, the four largest
 * groups took one tick, 1.6 times the budget: 644 to 1,078 ms over seven runs, the most of any
 * of the build's ticks, while the four smallest took 346 to 585.
 */
const MERGE_WEIGHT = 0.5

/** What merging group `g` costs, in documents of slicing (BUILD_DOCS_PER_TICK). */
export function mergeCost(shards: readonly ShardInfo[], g: number, groups: number): number {
  const { n } = buildTotals(shards)
  return Math.max(1, Math.ceil(MERGE_WEIGHT * n * groupShare(shards, g, groups)))
}

/**
 * What ranking one related list costs, in the same documents of build work: in workerd at 100k
 * articles a slice of 6,250 documents took about 200 to 250 ms of Worker CPU and a +100 tick's
 * 706 lists (606 placed) about 700 ms, so a tick that ranks that many takes one slice, the least
 * a tick takes (the build must end under a steady load too), and a quiet one two.
 */
export const BUILD_DOCS_PER_LIST = 28

/** The build work left to a tick that ranked `lists` related lists (BUILD_DOCS_PER_TICK). */
export function buildBudget(perTick: number, lists: number): number {
  return Math.max(0, perTick - BUILD_DOCS_PER_LIST * lists)
}

/**
 * Writes a tick keeps for the build's slices whatever its ranking wants: two slices' worth, the
 * most of the three phases (a shard's table and runs, a group's parts and the sums, the chunks,
 * meta and overlay). Without it a busy tick's ranking took the whole write budget and the build
 * stopped.
 */
export function buildWriteReserve(n: number): number {
  const { parts, groups } = buildShape('', n)
  return 2 * Math.max(1 + groups, (2 * parts) / groups + 1, Math.ceil(n / DOCS_PER_CHUNK) + 3)
}

export interface BuildInputs {
  state: JobState
  cursor: JobCursor
  /** the published stories, as the tick found them */
  published: readonly CatalogEntry[]
  live: { has(slug: string): boolean }
  config: RelatedConfig
  configHash: string
  /** the generation the stored index is of now (null: none usable) */
  currentGen: string | null
  /** the overlay's stored bytes after this tick's ranking: carried into the new generation */
  overlayBytes: string | null
  /** work allowed this tick, in documents (BUILD_DOCS_PER_TICK) */
  budget: number
  /** whether `writes` more writes and deletes fit the tick's write budget */
  canWrite: (writes: number) => boolean
  /** the basis of lists ranked against a generation (streamedBasis in the refresh job) */
  basisOf: (gen: string) => string
  now: Date
}

export interface BuildReport {
  /** slices taken this tick */
  slices: number
}

/** Starts a build of the published stories (its shape fixed from their count). */
export function startBuild(
  inp: Pick<BuildInputs, 'published' | 'configHash' | 'now'>,
): RelatedBuild {
  // Random as well: a build started again in the same tick's time must not take the values of
  // the one it replaces for its own.
  const gen = contentHash(
    ['build', inp.configHash, inp.now.toISOString(), crypto.randomUUID()].join('\n'),
  )
  const shape = buildShape(gen, inp.published.length)
  return {
    gen,
    configHash: inp.configHash,
    parts: shape.parts,
    groups: shape.groups,
    shards: Array.from({ length: CATALOG_SHARDS }, () => null),
  }
}

function missing(what: string): never {
  throw new StoredIndexError(`related index build: ${what} is missing`)
}

/**
 * Takes the build's next slices within the budget (at least one when the write budget allows),
 * starting a build when none runs. Ends it with the new generation stored, or drops it when what
 * it wrote cannot be read back as recorded.
 */
export async function advanceRelatedBuild(kv: KVNamespace, inp: BuildInputs): Promise<BuildReport> {
  const { cursor, state, config } = inp
  let build = cursor.relatedBuild
  // A build of other settings is of no use; one whose meta is written already is done (its
  // tick's cursor was lost).
  if (build && (build.configHash !== inp.configHash || build.gen === inp.currentGen)) {
    build = null
    cursor.relatedSweep = true
  }
  build ??= startBuild(inp)
  cursor.relatedBuild = build
  const shape: BuildShape = { gen: build.gen, parts: build.parts, groups: build.groups }
  const report: BuildReport = { slices: 0 }
  let left = inp.budget
  let sums: BuildSums | null = null
  let sumsChanged = false
  const byShard = new Map<number, CatalogEntry[]>()
  // One buffer for every value the slices read, made when the first is.
  let reader: ReturnType<typeof buildValueReader> | null = null
  try {
    while (left > 0 || report.slices === 0) {
      // Phase 1: the next shard not sliced.
      const s = build.shards.indexOf(null)
      if (s >= 0) {
        if (!inp.canWrite(1 + build.groups)) break
        if (byShard.size === 0) {
          for (const e of inp.published) {
            const list = byShard.get(shardOf(e.slug))
            if (list) list.push(e)
            else byShard.set(shardOf(e.slug), [e])
          }
        }
        await ensureCorpus(kv, state, [s])
        const vectors: DocVector[] = []
        const hashes = new Map<string, string>()
        for (const e of byShard.get(s) ?? []) {
          const v = state.corpus.get(e.slug) as DocVector | undefined
          if (!v) continue
          vectors.push(v)
          // A vector older than its article, or one whose lists are still to rank, is stored
          // under no hash: the overlay takes the new, and the related step ranks it from there.
          hashes.set(e.slug, e.vectorStale || e.vectorUnranked ? '' : e.hash)
        }
        const slice = sliceShard(shape, s, vectors, hashes)
        await writeShardSlice(kv, build.gen, s, slice)
        build.shards[s] = {
          count: slice.count,
          length: slice.length,
          tag: slice.tag,
          triples: slice.triples,
        }
        left -= Math.max(1, slice.count)
        report.slices++
        continue
      }
      const infos = build.shards as ShardInfo[]
      const { n } = buildTotals(infos)
      reader ??= buildValueReader(kv, build.gen)
      const read = reader
      if (!sums) {
        // The stored sums say which groups are in: a group whose parts were written but whose
        // sums were not saved is merged again (its parts are the same bytes).
        const bytes = await read('sumsq')
        sums = (bytes && decodeSums(shape, bytes, n)) || { groups: [], sums: new Float64Array(n) }
      }
      // Phase 2: the next group not merged.
      const merged = new Set(sums.groups)
      const g = Array.from({ length: build.groups }, (_, i) => i).find((i) => !merged.has(i))
      if (g !== undefined) {
        // Taken when it fits what is left, or when it is the tick's first slice: a tick then
        // never takes more than its budget of merges.
        const cost = mergeCost(infos, g, build.groups)
        if (cost > left && report.slices > 0) break
        // Its parts, and the sums written at the end.
        if (!inp.canWrite((2 * build.parts) / build.groups + 1)) break
        const merger = groupMerger(shape, g, infos, config)
        for (let shard = 0; shard < infos.length; shard++) {
          const run = (await read(`run:${shard}:${g}`)) ?? missing(`run ${shard}:${g}`)
          merger.add(shard, run)
        }
        await writeBaseParts(kv, build.gen, merger.finish(sums.sums))
        sums.groups.push(g)
        sumsChanged = true
        left -= cost
        report.slices++
        continue
      }
      // Last: the tables, the meta and the first overlay, weighed (weighCarried), in a tick of
      // their own. At 100k articles a build invocation taking only them used 542 and 615 ms of
      // Worker CPU, more than one slicing two shards, and one that merged four groups first 786.
      if (report.slices > 0) break
      if (!inp.canWrite(Math.ceil(n / DOCS_PER_CHUNK) + 3)) break
      const joiner = tableJoiner(shape, infos, config, inp.configHash)
      for (let shard = 0; shard < infos.length; shard++) {
        joiner.add(shard, (await read(`table:${shard}`)) ?? missing(`table ${shard}`))
      }
      const { meta, chunks, docs } = joiner.finish(scalesOf(sums.sums))
      const overlay = carriedOverlay(inp, build.gen, docs.slugs, docs.hashes)
      await weighCarried(kv, meta, docs, overlay, config)
      await publishBase(kv, meta, chunks, overlay)
      cursor.relatedBuild = null
      cursor.relatedSweep = true
      cursor.relatedBasis = inp.basisOf(build.gen)
      cursor.relatedVerified = 0
      report.slices++
      return report
    }
    if (sumsChanged && sums) await writeBuildValue(kv, build.gen, 'sumsq', encodeSums(shape, sums))
  } catch (error) {
    if (!(error instanceof StoredIndexError)) throw error
    console.error(`refresh: starting the related index build again: ${error.message}`)
    cursor.relatedBuild = null
    cursor.relatedSweep = true
  }
  return report
}

/**
 * The new generation's first overlay: the stories of the current overlay whose version it does
 * not hold (changed while it was built), without what they shared with the old generation; and
 * as found already (`gone`) only the build's stories that the current overlay records as found
 * gone. Any other that has left is found by the first tick against the new generation, in
 * whichever invocation the build ends.
 */
function carriedOverlay(
  inp: BuildInputs,
  gen: string,
  slugs: readonly string[],
  hashes: readonly string[],
): Overlay {
  const old = parseObject(inp.overlayBytes) as Overlay | null
  const found = new Set(old && Array.isArray(old.gone) ? old.gone : [])
  const overlay: Overlay = {
    version: 1,
    gen,
    docs: {},
    gone: slugs.filter((slug) => found.has(slug) && !inp.live.has(slug)),
    published: inp.published.length,
  }
  if (!old?.docs || typeof old.docs !== 'object') return overlay
  const wanted = new Set(Object.keys(old.docs).filter((slug) => inp.live.has(slug)))
  const built = new Map<string, string>()
  slugs.forEach((slug, d) => {
    if (wanted.has(slug)) built.set(slug, hashes[d] as string)
  })
  for (const slug of wanted) {
    const doc = old.docs[slug]
    if (doc && built.get(slug) !== doc.h) overlay.docs[slug] = { h: doc.h, v: doc.v }
  }
  return overlay
}

/**
 * Weighs the stories carried into the new generation against it, here rather than in the first
 * related step against it: that step would stream every term of each (851 stories when a 13-tick
 * build at 100k articles ended under 100 new stories a tick; 945 ms of that related invocation's
 * Worker CPU against 652 to 772 during the build). This tick holds the new table, and the
 * merges wrote its parts. A story a tick adds later is weighed by that tick, as before.
 */
async function weighCarried(
  kv: KVNamespace,
  meta: BaseMeta,
  docs: BaseDocs,
  overlay: Overlay,
  config: RelatedConfig,
): Promise<void> {
  const carried = Object.values(overlay.docs)
  if (carried.length === 0) return
  const weights = await weighAdded(
    meta,
    docs,
    config,
    carried.map((o) => o.v),
    { part: basePartReader(kv, meta), rare: baseRareReader(kv, meta) },
  )
  carried.forEach((o, i) => {
    const w = weights[i] as AddedWeight
    o.r = w.r
    o.s = w.s
  })
}

/**
 * Deletes what finished or dropped builds and replaced generations left, within the tick's
 * write budget; clears the cursor's flag once none is left.
 */
export async function sweepRelatedBuilds(
  kv: KVNamespace,
  cursor: JobCursor,
  currentGen: string | null,
  canWrite: (writes: number) => boolean,
): Promise<number> {
  const { deleted, done } = await sweepRelated(
    kv,
    { gen: currentGen, build: cursor.relatedBuild?.gen ?? null },
    () => canWrite(1),
  )
  if (done) cursor.relatedSweep = false
  return deleted
}
