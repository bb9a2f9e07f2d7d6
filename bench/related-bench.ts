// Scale and quality figures of the related engine: synthetic corpora shaped like the demo corpus
// (Zipf word frequencies, real length mix). A full rebuild per size runs in a child process under
// a 128 MB heap, streaming the stored corpus shards; the 100-article tick runs the built Worker's
// scheduled handler in workerd against local KV seeded with the whole corpus (CPU read from /proc),
// and once more in Node on a copy of that state for its CPU by phase. On a site large enough to
// keep a stored related index, a last tick builds that index again, as every site does now and
// then: measured the same way, and under the heap cap.
import { spawn, spawnSync } from 'node:child_process'
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Miniflare } from 'miniflare'
import {
  buildWorker,
  freePort,
  kvPersistDir,
  ROOT,
  readLocalConfig,
  startLocalWorker,
} from '../scripts/local-worker.ts'
import { readSiteConfig } from '../src/config.ts'
import {
  catalogEntry,
  INCREMENTAL_ABOVE,
  REFRESH_PARTS,
  type RefreshReport,
  relatedListValue,
  runRefresh,
} from '../src/jobs/refresh.ts'
import { refreshParts } from '../src/jobs/scheduled.ts'
import { type Article, parseArticleInput } from '../src/model/article.ts'
import {
  type DocVector,
  indexBuilder,
  listFloor,
  type RelatedSource,
  rankRelated,
} from '../src/related/index.ts'
import { articleEntries, putArticle, putTombstone } from '../src/storage/articles.ts'
import { contentHash } from '../src/storage/content-hash.ts'
import { decodeRelatedList, encodeValue } from '../src/storage/indexes.ts'
import { type CatalogEntry, EMPTY_CURSOR, encodeJobState } from '../src/storage/job-state.ts'
import { CATALOG_SHARDS, keys, shardOf } from '../src/storage/keys.ts'
import { encodeListing, type ListingEntry, listingEntry } from '../src/storage/listing.ts'
import { bundleFrameNamer } from './bundle-names.ts'
import {
  type IsolateCpu,
  isolateCpu,
  isolateCpuBySteps,
  isolateProbe,
  MAX_INTERVALS_PER_SAMPLE,
  SAMPLING_INTERVAL_US,
  type TickSteps,
  totalCpuMs,
} from './isolate-inspector.ts'
import { median } from './median.ts'
import { type OwnCpu, profileOwnCpu } from './own-cpu.ts'
import { formatEstimate, measureQuality } from './related-quality.ts'
import { type Corpus, loadCorpus, syntheticCorpus } from './synthetic-corpus.ts'
import { memoryMb, cpuMs as processCpuMs, workerdPid } from './workerd-process.ts'

const EVALDATA = fileURLToPath(new URL('../../shared/evaldata/', import.meta.url))

/** Options of the bench; sizes are corpus sizes to rebuild. */
export interface RelatedBenchOptions {
  sizes?: number[]
  /** Articles added by the measured tick (on the largest corpus); 0 skips the KV tick. */
  added?: number
  /** Heap cap for the rebuild child process, in MB. */
  heapMb?: number
  /**
   * Full rebuilds per size (default 3), the sizes taking turns. The table shows the fastest:
   * other work on a shared machine only ever adds CPU time (cache and memory contention), and a
   * single 100k rebuild whose code did not change measured 30.5 to 46.5 s in one day.
   */
  rebuildRuns?: number
  /** Cron interval in minutes for the per-day projections (wrangler.toml: every 15). */
  cronMinutes?: number
  /** Where generated corpora and vectors are cached between runs (vectorizing is slow). */
  cacheDir?: string
  /**
   * Keep the seeded pre-tick state in this directory and reuse it on later runs (for iterating
   * on the tick's code; reseed, by emptying it, after changing the corpus or the stored layout).
   */
  reuseState?: string
  /**
   * Busy ticks after the idle one, each publishing `added` more articles one cron interval later:
   * the first +N tick starts from an empty job delta, these show the cost once it has filled.
   */
  busyTicks?: number
  /**
   * Above INCREMENTAL_ABOVE: after the busy ticks, more until a build of the related index in
   * slices has started and ended, and that build from the +N tick's state under the heap cap.
   */
  build?: boolean
  /**
   * Runs of the +N tick (default 1): the first as above, each other on a fresh copy of the seeded
   * state in a new workerd. The same code's +100 tick at 100k took 1.6 s of Worker CPU in one run
   * and 2.6 s in the next on this shared VM, so one run says little about a change.
   */
  tickRuns?: number
  /**
   * Every measured invocation in a workerd started for it: a cold isolate, whose code V8 has not
   * optimised yet, as a cron invocation may find in production. Otherwise each run's invocations
   * share one workerd, and only the code an invocation runs first is cold.
   */
  cold?: boolean
  /**
   * Another build of the Worker (`wrangler deploy --dry-run --outdir DIR` in another checkout:
   * DIR/index.js) whose +N tick runs as many times as this tree's, on fresh copies of the same
   * state, the two taking turns (A B B A A B ...): each pair of neighbouring runs ran minutes
   * apart, so their difference says more than two runs an hour apart on a VM whose speed drifts.
   */
  against?: string
  /** Also print the dev-set quality figures. */
  quality?: boolean
  log?: (line: string) => void
}

/** The corpus shards as the job stores them in KV (one JSON object per shard, by slug). */
export function corpusShards(vectors: DocVector[]): string[] {
  const shards: Array<Record<string, DocVector>> = Array.from(
    { length: CATALOG_SHARDS },
    () => ({}),
  )
  for (const v of vectors) (shards[shardOf(v.slug)] as Record<string, DocVector>)[v.slug] = v
  return shards.map((shard) => JSON.stringify(shard))
}

/**
 * Child-process side of a full rebuild: stream the stored shards into the index builder (one
 * shard parsed at a time), then rank every list; lists go to `out` as
 * `slug\tfloor\tpeer,...\tscore,...`.
 */
export function rebuildFromShards(files: string[], out: string) {
  const cpu0 = process.cpuUsage()
  let peakHeap = 0
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
  }
  const builder = indexBuilder()
  for (const file of files) {
    const shard = JSON.parse(readFileSync(file, 'utf8')) as Record<string, DocVector>
    for (const slug in shard) builder.add(shard[slug] as DocVector)
    sample()
  }
  const index = builder.finish()
  sample()
  const cpu1 = process.cpuUsage(cpu0)
  const fd = openSync(out, 'w')
  let lines: string[] = []
  for (const slug of index.slugs) {
    const ranked = rankRelated(index, slug)
    const peers = ranked.map((r) => r.slug).join(',')
    lines.push(`${slug}\t${listFloor(ranked)}\t${peers}\t${ranked.map((r) => r.score).join(',')}`)
    if (lines.length === 1000) {
      writeSync(fd, `${lines.join('\n')}\n`)
      lines = []
      sample()
    }
  }
  if (lines.length) writeSync(fd, `${lines.join('\n')}\n`)
  closeSync(fd)
  sample()
  const cpu2 = process.cpuUsage(cpu0)
  const ms = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000
  return {
    docs: index.slugs.length,
    loadBuildMs: ms(cpu1),
    rankMs: ms(cpu2) - ms(cpu1),
    totalMs: ms(cpu2),
    peakHeapMb: peakHeap / 2 ** 20,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  }
}

type Rebuild = ReturnType<typeof rebuildFromShards>

/**
 * Node arguments and environment that run this file again in a child with its old space capped
 * at `heapMb`, with `args` (`--child ...` or `--tick-child ...`). The bench's own heap flag
 * (package.json) must not reach the capped child.
 */
function capped(heapMb: number, args: string[]): { argv: string[]; env: NodeJS.ProcessEnv } {
  return {
    argv: [
      `--max-old-space-size=${heapMb}`,
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      ...args,
    ],
    env: { ...process.env, NODE_OPTIONS: '' },
  }
}

function rebuildInChild(shards: string[], dir: string, heapMb: number): Rebuild & { out: string } {
  const files = shards.map((value, i) => {
    const file = join(dir, `shard-${i}.json`)
    writeFileSync(file, value)
    return file
  })
  const out = join(dir, 'lists.tsv')
  const { argv, env } = capped(heapMb, ['--child', JSON.stringify({ files, out })])
  const child = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 24, env })
  if (child.status !== 0) {
    throw new Error(`rebuild child failed (status ${child.status}): ${child.stderr.slice(-600)}`)
  }
  return { ...(JSON.parse(child.stdout.trim().split('\n').pop() as string) as Rebuild), out }
}

/** The +N tick run once more in a Node process whose old space is capped (tickInChild). */
interface CappedTick {
  /** live heap after the capped process started Miniflare's client, before the tick */
  baselineMb: number
  /** array buffers and other external memory at the same point (Miniflare's client's) */
  baselineExternalMb: number
  /** most live heap (used after a full collection) and external memory seen during the tick */
  peakLiveMb: number
  peakExternalMb: number
  /** full collections during the tick */
  fullGcs: number
  /** ticks run (more than one when the child ran a build in slices to its end) */
  ticks?: number
  /** the most live heap a full collection left in each phase of the tick, in MB */
  byPhase: Record<string, number>
  /**
   * the most live heap plus array buffers (and other external memory) above the baselines that a
   * full collection left in each phase, in MB: an upper bound of the tick's own, as buffers
   * Miniflare's client holds during the tick are counted too
   */
  totalByPhase: Record<string, number>
}

/** Local KV of a saved state in Miniflare, for a tick run in Node rather than in the Worker. */
async function stateKv(persist: string): Promise<{ mf: Miniflare; kv: KVNamespace }> {
  const mf = new Miniflare({
    modules: true,
    script: SEED_WORKER,
    kvNamespaces: { KV: readLocalConfig().namespaceId },
    kvPersist: kvPersistDir(persist),
  })
  try {
    return { mf, kv: (await mf.getKVNamespace('KV')) as unknown as KVNamespace }
  } catch (error) {
    await mf.dispose()
    throw error
  }
}

// In the capped child: one tick against the state in `persist`, with V8's full collections
// recorded (GCProfiler); with old space capped, V8 collects fully as the heap nears the cap, so
// the largest heap a full collection leaves is the tick's live peak, measured where it matters.
async function tickInThisProcess(
  persist: string,
  baselineOnly: boolean,
  build = false,
): Promise<CappedTick> {
  const local = readLocalConfig()
  const { mf, kv } = await stateKv(persist)
  try {
    const site = readSiteConfig(local.vars as unknown as Env)
    // A full collection before the tick gives the baseline (Miniflare's client and this code).
    setFlagsFromString('--expose-gc')
    ;(runInNewContext('gc') as () => void)()
    const baseline = process.memoryUsage().heapUsed
    // External memory before the tick is Miniflare's client's (its HTTP parser's WebAssembly
    // memory is most of it, about 18 MB): like the heap baseline, not the tick's. Just after
    // start-up it also holds buffers released a moment later (37 MB more in some runs), so the
    // baseline is the least of a few readings a quarter of a second apart, each after a full
    // collection, and of the tick's own collections (below).
    let baselineExternal = Number.POSITIVE_INFINITY
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      ;(runInNewContext('gc') as () => void)()
      baselineExternal = Math.min(baselineExternal, getHeapStatistics().external_memory)
    }
    if (baselineOnly) {
      return {
        baselineMb: baseline / 2 ** 20,
        baselineExternalMb: baselineExternal / 2 ** 20,
        peakLiveMb: 0,
        peakExternalMb: 0,
        fullGcs: 0,
        byPhase: {},
        totalByPhase: {},
      }
    }
    // The profiler is read at each phase's end (the job's clock hook), so peaks are per phase.
    type Stat = ReturnType<GCProfiler['stop']>['statistics'][number]
    const stats: Array<{ phase: string; stat: Stat }> = []
    let profiler = new GCProfiler()
    profiler.start()
    // The job reads its clock once as it starts, then at the end of each phase.
    const phases = [
      'start',
      'load',
      'changes',
      'lists',
      'relatedPlan',
      'related',
      'build',
      'documents',
      'save',
    ]
    let phase = 0
    const rotate = () => {
      for (const stat of profiler.stop().statistics)
        stats.push({ phase: phases[phase] ?? 'after', stat })
      profiler = new GCProfiler()
      profiler.start()
    }
    // With `build`, ticks a cron interval apart until the related index built in slices is the
    // stored one (maxOverlay 0 starts the build at once); their peaks are taken together.
    const genOf = async () =>
      (JSON.parse((await kv.get(keys.relatedMeta)) ?? '{}') as { gen?: string }).gen
    const genBefore = build ? await genOf() : undefined
    let ticks = 0
    for (; ticks < (build ? BUILD_TICKS_MAX : 1); ) {
      phase = 0
      await runRefresh(kv, {
        now: new Date(Date.parse(BENCH_NOW) + ticks * site.cronIntervalMinutes * 60_000),
        site,
        ...(build ? { maxOverlay: 0 } : {}),
        clock: () => {
          rotate()
          phase++
          return 0
        },
      })
      ticks++
      if (build && (await genOf()) !== genBefore) break
    }
    rotate()
    profiler.stop()
    const mb = (n: number) => n / 2 ** 20
    const full = stats.filter(({ stat }) => stat.gcType === 'MarkSweepCompact')
    const byPhase: Record<string, number> = {}
    const totalByPhase: Record<string, number> = {}
    // Memory present before the tick and after every one of its collections is not the tick's:
    // the least reading of all, so a baseline read while start-up buffers were still held
    // cannot hide any of the tick's own.
    for (const { stat } of full) {
      baselineExternal = Math.min(baselineExternal, stat.afterGC.heapStatistics.externalMemory)
    }
    for (const { phase, stat } of full) {
      const after = stat.afterGC.heapStatistics
      byPhase[phase] = Math.max(byPhase[phase] ?? 0, mb(after.usedHeapSize))
      const total = after.usedHeapSize - baseline + after.externalMemory - baselineExternal
      totalByPhase[phase] = Math.max(totalByPhase[phase] ?? 0, mb(total))
    }
    return {
      baselineMb: mb(baseline),
      baselineExternalMb: mb(baselineExternal),
      peakLiveMb: Math.max(0, ...Object.values(byPhase)),
      peakExternalMb: mb(
        Math.max(0, ...stats.map(({ stat }) => stat.beforeGC.heapStatistics.externalMemory)),
      ),
      fullGcs: full.length,
      byPhase,
      totalByPhase,
      ticks,
    }
  } finally {
    await mf.dispose()
  }
}

async function runTickChild(
  persist: string,
  heapMb: number,
  baselineOnly: boolean,
  build = false,
): Promise<CappedTick | null> {
  // In a process group of its own: a child that runs out of heap dies without stopping the
  // workerd its Miniflare started, so the group is killed once the child is gone.
  const { argv, env } = capped(heapMb, [
    '--tick-child',
    persist,
    ...(baselineOnly ? ['--baseline-only'] : []),
    ...(build ? ['--build'] : []),
  ])
  const child = spawn(process.execPath, argv, {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env,
  })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    out += chunk
  })
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL')
  } catch {}
  if (status !== 0) return null
  return JSON.parse(out.trim().split('\n').pop() as string) as CappedTick
}

/**
 * Runs the tick in a child Node process whose old space is capped at `heapMb` plus what that
 * process holds before the tick (Node, tsx and Miniflare's client: about 45 MB, which a Worker
 * does not carry), measured first by a child that stops there. `passed` is false when the tick
 * ran out of heap.
 */
async function tickUnderCap(
  persist: string,
  heapMb: number,
  build = false,
): Promise<CappedTick & { capMb: number; passed: boolean }> {
  const base = await runTickChild(persist, 4096, true)
  if (!base) throw new Error('the tick child failed before the tick')
  const capMb = Math.ceil(heapMb + base.baselineMb)
  const run = await runTickChild(persist, capMb, false, build)
  return run ? { ...run, capMb, passed: true } : { ...base, capMb, passed: false }
}

// The day after the synthetic corpus's newest story (it spans the 1,000 days from 2019-01-01):
// the measured tick publishes its additions in the minutes before this, as a newsroom would.
const BENCH_NOW = '2021-09-27T12:00:00Z'

function toArticle(source: RelatedSource, i: number): Article {
  const parsed = parseArticleInput(
    {
      slug: source.slug,
      title: source.title || source.slug,
      summary: source.summary || source.title || source.slug,
      body: source.body,
      themes: source.themes.map((slug) => ({ slug, name: slug })),
      publishedAt: source.publishedAt,
    },
    { now: BENCH_NOW, newId: () => `01BENCH${String(i).padStart(19, '0')}` },
  )
  if (!parsed.ok)
    throw new Error(`synthetic article ${source.slug}: ${JSON.stringify(parsed.errors)}`)
  return parsed.value
}

// Seeding through Miniflare's KV proxy costs a round trip per put (about 4 ms); this Worker
// takes a batch per request and writes it inside workerd instead.
const SEED_WORKER = `export default {
  async fetch(request, env) {
    const entries = await request.json()
    await Promise.all(entries.map(([key, value, metadata]) =>
      env.KV.put(key, value, metadata ? { metadata } : {})))
    return new Response('ok')
  },
}`

async function putAll(mf: Miniflare, entries: Array<[string, string, unknown?]>) {
  let batch: Array<[string, string, unknown?]> = []
  let size = 0
  const flush = async () => {
    if (!batch.length) return
    const response = await mf.dispatchFetch('http://seed/', {
      method: 'POST',
      body: JSON.stringify(batch),
    })
    if (!response.ok) throw new Error(`seeding failed: ${response.status} ${await response.text()}`)
    await response.text()
    batch = []
    size = 0
  }
  for (const entry of entries) {
    batch.push(entry)
    size += entry[1].length
    if (batch.length >= 500 || size > 8 * 2 ** 20) await flush()
  }
  await flush()
}

// This process's CPU time in milliseconds: the clock the bench hands the job for its phases.
function cpuMs(): number {
  const used = process.cpuUsage()
  return (used.user + used.system) / 1000
}

interface TickFigures {
  seedMs: number
  warmupTicks: number
  /** related lists the warm-up rewrote: 0 when the seeded lists match the job's ranking */
  warmupRelated: number
  /**
   * the measured invocations in workerd: the +N tick, its follow-ups, an idle one, busy ones,
   * each tick as its cron invocations (content, then DOCUMENTS_CRON's documents, then
   * RELATED_CRON's related part)
   */
  ticks: WorkerdTick[]
  /** every run of the +N tick's invocations: the first of `ticks`, then one per fresh copy */
  tickRuns: WorkerdTick[][]
  /**
   * with `against`: the order the runs took ('A' this tree, 'B' the other build), and the other
   * build's runs, each on a fresh copy of the same state
   */
  abOrder?: string[]
  againstRuns?: WorkerdTick[][]
  /**
   * After each +N tick run but the first, in the same workerd: N stories of the seeded site
   * removed at once one cron interval later, and that tick's invocations, this tree's (`A`) and
   * with `against` the other build's (`B`), in abOrder's order without its first run.
   */
  removalRuns: { A: WorkerdTick[][]; B: WorkerdTick[][] }
  /**
   * ticks (the +N one and its follow-ups) until its additions were in every peer list: until the
   * related part had nothing pending (the whole job, when one invocation runs it)
   */
  settleTicks: number
  /** ticks until nothing was pending: story lists, feeds and sitemaps too */
  allSettleTicks: number
  /** with `build`: the tick whose invocations wrote the new meta (null if none did) */
  buildEnd: string | null
  /**
   * After every other measured tick, N stories removed at once (the API's delete): the ticks
   * (the -N one and its follow-ups) until the related part had nothing pending, and then, of
   * every stored related list, how many still held a removed story
   */
  removal: { ticks: number; listsRead: number; stillListed: number }
  /** the same +N tick re-run in Node on a copy of the state, for its CPU by phase */
  phases: RefreshReport
  phasesCpuMs: number
  /** peak heap + array buffers the Node process added during that re-run, sampled */
  phasesPeakHeapMb: number
  /** that re-run's CPU profile: the project's own JavaScript, GC, everything busy */
  own: OwnCpu
  /** the same +N tick once more, in a Node process with its heap capped */
  capped: Awaited<ReturnType<typeof tickUnderCap>>
  /**
   * Large sites: the ticks that build the stored related index in slices to its end, after the
   * +N tick, in a Node process with its heap capped (the build started at once)
   */
  buildCapped?: Awaited<ReturnType<typeof tickUnderCap>>
}

/** Most ticks the bench runs for a build of the related index in slices to start and end. */
const BUILD_TICKS_MAX = 60
/** Busy ticks measured after the build's last (--build). */
const AFTER_BUILD_TICKS: number = 2

/**
 * The refresh tick's steps (src/jobs/refresh.ts, in order), each with functions that no earlier
 * step runs (getArticles runs again in documents, which is later), for the
 * Worker CPU of each step (isolateCpuBySteps). `related` is the related engine's part of a tick:
 * picking and ranking the lists, placing them and writing those that changed.
 * tests/node/isolate-cpu.test.ts checks that every name is still a function of src/.
 */
export const REFRESH_STEPS: TickSteps = [
  ['load', ['loadJobState', 'listChangeMarkers']],
  ['changes', ['listArticleKeys', 'getArticles', 'vectorize']],
  ['lists', ['publishedNewest', 'groupPublished', 'refreshStoryLists']],
  [
    'related',
    [
      'pickVerifySlice',
      'loadBaseDocs',
      'planStreamed',
      'planIncremental',
      'planFull',
      'rankRelated',
      'relatedListValue',
    ],
  ],
  ['build', ['advanceRelatedBuild', 'sweepRelatedBuilds']],
  ['documents', ['planFeeds', 'planSitemaps', 'refreshDocuments']],
  ['save', ['encodeJobChanges', 'saveJobState', 'deleteChangeMarkers', 'saveStatus']],
]

interface WorkerdTick {
  /** the tick and the parts its invocation ran: `+100 content` */
  name: string
  /** `content`, `documents`, `related`, `all` (one invocation for the whole job) or a mix */
  part: string
  /** CPU the workerd process used during the tick (user + system) */
  cpuMs: number
  /** the Worker isolate's share of it, from workerd's CPU profiler */
  isolate: IsolateCpu
  /** the same samples read as the bench did until each counted for up to 1.1 intervals, not 2 */
  isolateTwoIntervals: IsolateCpu
  /** the same samples by step of the tick (REFRESH_STEPS) */
  steps: Array<[string, IsolateCpu]>
  /** what the tick reported (the scheduled handler logs its report) */
  report: Omit<RefreshReport, 'errors'>
  /** workerd's resident set after the tick, and its peak so far */
  rssMb: number
  peakRssMb: number
  /** the Worker isolate's used heap + array buffers after the tick (garbage included) */
  heapMb: number
  /** stories in the job's delta after the tick (changed since their shard was last written) */
  deltaStories: number
}

/** Writes what a settled site holds: articles, related lists, the job's catalog and corpus. */
async function seedSettledSite(mf: Miniflare, corpus: Corpus, listsFile: string) {
  const articles = new Map<string, Article>()
  corpus.sources.forEach((s, i) => {
    articles.set(s.slug, toArticle(s, i))
  })
  const catalog = new Map<string, CatalogEntry>()
  const listing: ListingEntry[] = []
  const entries: Array<[string, string, unknown?]> = []
  for (const article of articles.values()) {
    const entry = articleEntries(article, 'seed')[1] as {
      key: string
      value: string
      metadata: { h: string }
    }
    entries.push([entry.key, entry.value, entry.metadata])
    // Its vector is seeded with it (corpus.vectors): not stale.
    catalog.set(article.slug, {
      ...catalogEntry(article, entry.metadata.h),
      vectorStale: undefined,
    })
    listing.push(listingEntry(article, entry.metadata.h))
  }
  // Stored as the job stores them: scores and floors only above the incremental threshold, so
  // the warm-up tick has nothing to rewrite on a small site either.
  const incremental = catalog.size > INCREMENTAL_ABOVE
  for (const line of readFileSync(listsFile, 'utf8').split('\n')) {
    if (!line) continue
    const [slug, floor, peers, scores] = line.split('\t') as [string, string, string, string]
    const score = scores ? scores.split(',').map(Number) : []
    const ranked = (peers ? peers.split(',') : []).map((peer, i) => ({
      slug: peer,
      score: score[i] as number,
    }))
    const bytes = encodeValue(relatedListValue(ranked, catalog, incremental))
    entries.push([keys.related(slug), bytes])
    const entry = catalog.get(slug) as CatalogEntry
    entry.relatedHash = contentHash(bytes)
    const f = Number(floor)
    entry.relatedFloor = incremental && Number.isFinite(f) ? Number(f.toPrecision(6)) : null
  }
  const corpusMap = new Map(corpus.vectors.map((v) => [v.slug, v]))
  for (const [key, value] of encodeJobState(EMPTY_CURSOR, catalog, corpusMap))
    entries.push([key, value])
  for (const [key, value] of encodeListing(listing)) entries.push([key, value])
  await putAll(mf, entries)
}

/**
 * Publishes `count` synthetic articles numbered from `first`, dated in the minutes before `at`
 * (as a newsroom would publish them), through storage as every writer does.
 */
export async function publishAdditions(
  kv: KVNamespace,
  count: number,
  first: number,
  at: string,
  seed = 99,
) {
  const atMs = Date.parse(at)
  const extra = syntheticCorpus(count, seed, first).map((s, i) => ({
    ...s,
    publishedAt: new Date(atMs - (count - i) * 60_000).toISOString().replace('.000Z', 'Z'),
  }))
  for (const [i, s] of extra.entries()) {
    await putArticle(kv, toArticle(s, first + i), `add${first + i}`)
  }
}

/**
 * Seeds local KV under `persist` with a settled site of the corpus, lets the job settle (story
 * lists, feeds and sitemaps were not seeded: unmetered warm-up ticks write them), then publishes
 * `added` more articles in the minutes before BENCH_NOW: the state the measured tick starts from.
 */
export async function seedTickState(
  corpus: Corpus,
  listsFile: string,
  added: number,
  persist: string,
): Promise<{ seedMs: number; warmupTicks: number; warmupRelated: number }> {
  const local = readLocalConfig()
  const mf = new Miniflare({
    modules: true,
    script: SEED_WORKER,
    kvNamespaces: { KV: local.namespaceId },
    kvPersist: kvPersistDir(persist),
  })
  let seedMs = 0
  let warmupTicks = 0
  let warmupRelated = 0
  const site = readSiteConfig(local.vars as unknown as Env)
  const now = new Date(BENCH_NOW)
  try {
    const kv = (await mf.getKVNamespace('KV')) as unknown as KVNamespace
    const t0 = performance.now()
    // In a function of its own so the seeding data (GBs at 100k) can go before the warm-up.
    await seedSettledSite(mf, corpus, listsFile)
    seedMs = performance.now() - t0
    // The seeded site has no feeds or sitemaps yet: the warm-up renders them all, with no cap on
    // the bytes a tick renders (a fresh seed at 100k otherwise left most of them to the measured
    // ticks, which rendered 2.3 s of them in their documents invocation).
    for (; warmupTicks < 10; ) {
      warmupTicks++
      const r = await runRefresh(kv, {
        now,
        site,
        writeBudget: 1_000_000,
        maxDocumentBytesPerTick: Number.MAX_SAFE_INTEGER,
        // The seeded site has no stored related index: the warm-up builds it whole.
        buildPerTick: Number.MAX_SAFE_INTEGER,
      })
      warmupRelated += r.relatedWritten
      if (r.pending === 0) break
    }
    await publishAdditions(kv, added, corpus.sources.length, BENCH_NOW)
  } finally {
    await mf.dispose()
  }
  return { seedMs, warmupTicks, warmupRelated }
}

/**
 * The built Worker in workerd on the local KV state in `persistTo`, with its isolate's profiler
 * attached: `measure` runs one tick of its scheduled handler and reads what it cost.
 */
async function measuredWorker(
  persistTo: string,
  scriptPath: string,
  keep = process.env.EDGEWIRE_BENCH_PROFILES,
) {
  let logged: WorkerdTick['report'] | null = null
  const inspectorPort = await freePort()
  const worker = await startLocalWorker({
    persistTo,
    scriptPath,
    inspectorPort,
    onLog: (line) => {
      const at = line.search(/refresh tick(?: \([^)]*\))?: /)
      if (at >= 0) logged = JSON.parse(line.slice(line.indexOf(': {', at) + 2))
    },
  })
  let probe: Awaited<ReturnType<typeof isolateProbe>>
  try {
    probe = await isolateProbe(inspectorPort)
  } catch (error) {
    await worker.dispose()
    throw error
  }
  const nameFrame = bundleFrameNamer(scriptPath)
  const pid = workerdPid()
  // EDGEWIRE_BENCH_PROFILES=DIR keeps each invocation's CPU profile there, with the bundle and
  // its source map, for bench/profile-top.ts to read by function (another build's in DIR/against).
  if (keep) {
    mkdirSync(keep, { recursive: true })
    for (const file of [scriptPath, `${scriptPath}.map`]) {
      if (existsSync(file)) cpSync(file, join(keep, basename(file)))
    }
  }
  let run = 0
  const measure = async (name: string, at: Date, part: string, cron: string) => {
    logged = null
    await probe.startProfile()
    const before = processCpuMs(pid)
    await worker.tick(at, cron)
    const spent = processCpuMs(pid) - before
    const profile = await probe.stopRawProfile()
    if (keep) {
      run++
      const file = `${String(run).padStart(3, '0')} ${name} ${part}`.replace(/[^\w.+-]+/g, '-')
      writeFileSync(join(keep, `${pid}-${file}.cpuprofile`), JSON.stringify(profile))
    }
    const isolate = isolateCpu(profile)
    const isolateTwoIntervals = isolateCpu(profile, SAMPLING_INTERVAL_US, 2)
    const steps = isolateCpuBySteps(profile, REFRESH_STEPS, nameFrame)
    // The log line may trail the scheduled call's completion by a moment.
    for (let i = 0; i < 100 && !logged; i++) await new Promise((r) => setTimeout(r, 20))
    const report = logged as WorkerdTick['report'] | null
    if (!report) throw new Error('the scheduled handler logged no report')
    const rss = memoryMb(pid)
    return {
      name: `${name} ${part}`,
      part,
      cpuMs: spent,
      isolate,
      isolateTwoIntervals,
      steps,
      report,
      rssMb: rss.rss,
      peakRssMb: rss.hwm,
      heapMb: await probe.usedMb(),
      deltaStories: Object.keys(
        (JSON.parse((await worker.kv.get(keys.jobDelta)) ?? '{}') as { entries?: object })
          .entries ?? {},
      ).length,
    }
  }
  const close = async () => {
    probe.close()
    await worker.dispose()
  }
  return { kv: worker.kv, measure, close }
}

/**
 * Seeds a settled site (seedTickState) and measures the tick that follows in workerd, the real
 * scheduled handler of the built Worker (CPU of the workerd process from /proc), then the ticks
 * until nothing is pending and an idle one. The same tick is re-run in Node on a copy of the
 * state for its CPU by phase. With `reuse`, a state seeded earlier into that directory is copied
 * instead of seeding again (seeding 100k articles takes most of the bench's time).
 */
async function measureTick(
  corpus: Corpus,
  listsFile: string,
  added: number,
  dir: string,
  scriptPath: string,
  reuse?: string,
  busy = 0,
  heapMb = 128,
  tickRuns = 1,
  build = false,
  cold = false,
  against?: string,
): Promise<TickFigures> {
  const local = readLocalConfig()
  const persist = join(dir, 'state')
  const site = readSiteConfig(local.vars as unknown as Env)
  const now = new Date(BENCH_NOW)
  const seedInfo = join(reuse ?? dir, 'seed.json')
  let seeded: { seedMs: number; warmupTicks: number; warmupRelated: number }
  if (reuse && existsSync(seedInfo)) {
    cpSync(join(reuse, 'state'), persist, { recursive: true })
    seeded = JSON.parse(readFileSync(seedInfo, 'utf8'))
  } else {
    seeded = await seedTickState(corpus, listsFile, added, persist)
    if (reuse) {
      cpSync(persist, join(reuse, 'state'), { recursive: true })
      writeFileSync(seedInfo, JSON.stringify(seeded))
    }
  }
  const { seedMs, warmupTicks, warmupRelated } = seeded
  const copy = join(dir, 'state-copy')
  cpSync(persist, copy, { recursive: true })
  const cappedCopy = join(dir, 'state-capped')
  cpSync(persist, cappedCopy, { recursive: true })

  // Large sites keep a stored index, which a last tick builds again.
  const large = corpus.sources.length > INCREMENTAL_ABOVE

  // The +N tick's other runs: this tree's ('A'), then with `against` the other build's ('B') as
  // many times, the two taking turns after the first A: A B B A A B B A ...
  const abOrder = ['A']
  for (let k = 1; abOrder.length < (against ? 2 * tickRuns : tickRuns); k++) {
    abOrder.push(against ? (k % 4 === 1 || k % 4 === 2 ? 'B' : 'A') : 'A')
  }

  // The measured ticks: the built Worker's scheduled handler in workerd, one invocation per
  // trigger of wrangler.toml (tickInvocations).
  const crons = tickTriggers(local.crons, site)
  const ticks: WorkerdTick[] = []
  let settleTicks = 0
  let allSettleTicks = 0
  let buildEnd: string | null = null
  const removal = { ticks: 0, listsRead: 0, stillListed: 0 }
  // The stories removed after the ticks, and after each other run's +N tick.
  const victims = removalVictims(corpus, added)
  const worker = await tickWorker(persist, scriptPath, cold)
  try {
    const measure = async (name: string, at = now) => {
      const invocations = await tickInvocations(worker.measure, name, at, crons)
      ticks.push(...invocations)
      const related = invocations.find((r) => r.part.split('+').includes('related'))
      if (settleTicks === 0 && related?.report.pending === 0) settleTicks = tickCount(ticks)
      return invocations.reduce((left, r) => left + r.report.pending, 0)
    }
    let pending = await measure(`+${added}`)
    for (let i = 1; pending > 0 && i <= 10; i++) pending = await measure(`follow-up ${i}`)
    allSettleTicks = tickCount(ticks)
    await measure('idle')
    const interval = site.cronIntervalMinutes * 60_000
    let lastAt = now
    for (let k = 1; k <= busy; k++) {
      const at = new Date(now.getTime() + k * interval)
      lastAt = at
      const first = corpus.sources.length + k * added
      await publishAdditions(worker.kv, added, first, at.toISOString(), 99 + k)
      await measure(`+${added} busy ${k}`, at)
    }
    // Then more busy ticks until the related index built in slices has started and ended (the
    // overlay passes half its bound, then the slices take their ticks), measured as any other,
    // and AFTER_BUILD_TICKS more: the first ticks against the new generation, whose overlay
    // starts with the stories the build carried (weighed by its last slice since d3a83cf).
    if (large && build) {
      const genOf = async () =>
        (JSON.parse((await worker.kv.get(keys.relatedMeta)) ?? '{}') as { gen?: string }).gen
      const genBefore = await genOf()
      let started = false
      let after = -1
      for (let k = busy + 1; k <= busy + BUILD_TICKS_MAX + AFTER_BUILD_TICKS; k++) {
        const at = new Date(now.getTime() + k * interval)
        lastAt = at
        await publishAdditions(
          worker.kv,
          added,
          corpus.sources.length + k * added,
          at.toISOString(),
          99 + k,
        )
        await measure(`+${added} busy ${k}`, at)
        if (after >= 0) after++
        started ||= ticks.some((r) => r.report.relatedBuildSlices > 0)
        if (after < 0 && started && (await genOf()) !== genBefore) {
          after = 0
          buildEnd = `+${added} busy ${k}`
        }
        if (after >= AFTER_BUILD_TICKS) break
      }
    }
    // Last, N stories of the seeded site removed at once, as the API deletes (a tombstone and a
    // change marker each), one cron interval after the last tick: ticks until the related part
    // has nothing pending, then every stored related list read for any of them still listed.
    const removeAt = new Date(lastAt.getTime() + interval)
    await removeStories(worker.kv, victims, removeAt)
    for (let k = 0; k <= 10; k++) {
      const at = new Date(removeAt.getTime() + k * interval)
      const invocations = await tickInvocations(
        worker.measure,
        k === 0 ? `-${added}` : `-${added} follow-up ${k}`,
        at,
        crons,
      )
      ticks.push(...invocations)
      removal.ticks++
      const related = invocations.find((r) => r.part.split('+').includes('related'))
      if (related?.report.pending === 0) break
    }
    Object.assign(
      removal,
      await stillListed(worker.kv, new Set(victims.map(([, source]) => source.slug))),
    )
  } finally {
    await worker.close()
  }
  // The +N tick's other runs, one workerd each, as the first ran, each on a copy of the seeded
  // state taken from `copy` (which the Node re-run below changes only after them).
  const tickRunsMeasured = [
    ticks.filter((r) => r.name.startsWith(`+${added} `)).slice(0, crons.length),
  ]
  const againstRuns: WorkerdTick[][] = []
  const removalRuns: TickFigures['removalRuns'] = { A: [], B: [] }
  const keep = process.env.EDGEWIRE_BENCH_PROFILES
  for (const [k, which] of abOrder.entries()) {
    if (k === 0) continue
    const runCopy = join(dir, `state-run-${k}`)
    cpSync(copy, runCopy, { recursive: true })
    const other = which === 'B' && against
    const again = other
      ? await tickWorker(runCopy, against, cold, keep && join(keep, 'against'))
      : await tickWorker(runCopy, scriptPath, cold)
    try {
      const run = await tickInvocations(again.measure, `+${added}`, now, crons)
      ;(other ? againstRuns : tickRunsMeasured).push(run)
      // Then the removals, one cron interval later, on the state this run left.
      const removeAt = new Date(now.getTime() + site.cronIntervalMinutes * 60_000)
      await removeStories(again.kv, victims, removeAt)
      const removal = await tickInvocations(again.measure, `-${added}`, removeAt, crons)
      removalRuns[other ? 'B' : 'A'].push(removal)
    } finally {
      await again.close()
      rmSync(runCopy, { recursive: true, force: true })
    }
  }

  // The same +N tick in a Node process with its heap capped, for the tick's live heap by phase;
  // then, from the state it left, the ticks of a build of the related index in slices.
  const capped = await tickUnderCap(cappedCopy, heapMb)
  const buildCapped = large && build ? await tickUnderCap(cappedCopy, heapMb, true) : undefined
  rmSync(cappedCopy, { recursive: true, force: true })

  // The same +N tick in Node, on the copy, for where its time goes.
  const { mf: phaseMf, kv } = await stateKv(copy)
  try {
    // Heap + array buffers sampled every 10 ms (the job awaits KV often, so the timer runs
    // between its steps), above what the bench itself held before the tick; Miniflare's KV
    // client shares the process and is counted too.
    const used = () => {
      const m = process.memoryUsage()
      return m.heapUsed + m.arrayBuffers
    }
    const baseline = used()
    let peakHeap = baseline
    const sample = () => {
      peakHeap = Math.max(peakHeap, used())
    }
    const sampler = setInterval(sample, 10)
    const before = cpuMs()
    try {
      const { result: phases, cpu: own } = await profileOwnCpu(() =>
        runRefresh(kv, { now, site, clock: cpuMs }),
      )
      const phasesCpuMs = cpuMs() - before
      sample()
      return {
        seedMs,
        warmupTicks,
        warmupRelated,
        ticks,
        tickRuns: tickRunsMeasured,
        ...(against ? { abOrder, againstRuns } : {}),
        removalRuns,
        settleTicks,
        allSettleTicks,
        buildEnd,
        removal,
        phases,
        phasesCpuMs,
        phasesPeakHeapMb: (peakHeap - baseline) / 2 ** 20,
        own,
        capped,
        ...(buildCapped ? { buildCapped } : {}),
      }
    } finally {
      clearInterval(sampler)
    }
  } finally {
    await phaseMf.dispose()
  }
}

/** Removes the stories as the API deletes them: a tombstone and a change marker each. */
async function removeStories(
  kv: KVNamespace,
  victims: Array<[number, RelatedSource]>,
  at: Date,
): Promise<void> {
  for (const [i, source] of victims) {
    const { id } = toArticle(source, i)
    await putTombstone(kv, { slug: source.slug, id }, at.toISOString(), `del${i}`)
  }
}

/**
 * `count` stories of the seeded site to remove, with their indexes: spread evenly over it (its
 * stories are in no particular order of age or theme), so their peers' lists are all over too.
 */
function removalVictims(corpus: Corpus, count: number): Array<[number, RelatedSource]> {
  const n = corpus.sources.length
  const step = Math.max(1, Math.floor(n / count))
  const out: Array<[number, RelatedSource]> = []
  for (let i = Math.floor(step / 2); i < n && out.length < count; i += step) {
    out.push([i, corpus.sources[i] as RelatedSource])
  }
  return out
}

/** Every stored related list, read 100 at a time: how many there are, and how many hold `gone`. */
async function stillListed(
  kv: KVNamespace,
  gone: ReadonlySet<string>,
): Promise<{ listsRead: number; stillListed: number }> {
  const prefix = keys.related('')
  let listsRead = 0
  let held = 0
  let cursor: string | undefined
  do {
    const page = await kv.list({ prefix, ...(cursor ? { cursor } : {}) })
    const names = page.keys.map((k) => k.name)
    for (let i = 0; i < names.length; i += 100) {
      const batch = names.slice(i, i + 100)
      const texts = await kv.get(batch, 'text')
      for (const key of batch) {
        const list = decodeRelatedList(key, texts.get(key))
        listsRead++
        if (list?.items.some((item) => gone.has(item.slug))) held++
      }
    }
    cursor = page.list_complete ? undefined : page.cursor
  } while (cursor)
  return { listsRead, stillListed: held }
}

/**
 * The triggers of one tick, in wrangler.toml's order (the cycle's: the content part's, then
 * DOCUMENTS_CRON's four minutes later, then RELATED_CRON's), each with the parts its invocation
 * runs as the Worker maps them (refreshParts); one empty trigger, the whole job, without any.
 */
function tickTriggers(
  crons: string[],
  site: ReturnType<typeof readSiteConfig>,
): Array<{ cron: string; part: string }> {
  const label = (parts: string[]) =>
    parts.length === REFRESH_PARTS.length ? 'all' : parts.join('+')
  const triggers = crons.length > 0 ? crons : ['']
  return triggers.map((cron) => ({ cron, part: label(refreshParts(cron, site)) }))
}

/**
 * measuredWorker, or with `cold` one started again before each invocation (its KV is the same
 * persisted state): every invocation then runs in a new isolate.
 */
async function tickWorker(persist: string, scriptPath: string, cold: boolean, keep?: string) {
  let worker = await measuredWorker(persist, scriptPath, keep)
  let fresh = true
  return {
    get kv() {
      return worker.kv
    },
    measure: async (name: string, at: Date, part: string, cron: string) => {
      if (cold && !fresh) {
        await worker.close()
        worker = await measuredWorker(persist, scriptPath, keep)
      }
      fresh = false
      return worker.measure(name, at, part, cron)
    },
    close: () => worker.close(),
  }
}

/** One tick as the deployed Worker runs it: each trigger's cron invocation, in order. */
async function tickInvocations(
  measure: (name: string, at: Date, part: string, cron: string) => Promise<WorkerdTick>,
  name: string,
  at: Date,
  triggers: Array<{ cron: string; part: string }>,
): Promise<WorkerdTick[]> {
  const out: WorkerdTick[] = []
  for (const { cron, part } of triggers) out.push(await measure(name, at, part, cron))
  return out
}

/** Ticks in a list of invocations (a tick begins with the invocation that runs its content part). */
function tickCount(invocations: WorkerdTick[]): number {
  return invocations.filter((r) => r.part === 'all' || r.part.split('+').includes('content')).length
}

function table(rows: string[][]): string[] {
  const widths = (rows[0] as string[]).map((_, c) =>
    Math.max(...rows.map((r) => (r[c] ?? '').length)),
  )
  return rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c] as number))
      .join('  ')
      .trimEnd(),
  )
}

/**
 * What a capped re-run of a tick found, as the bench prints it: with `heapMb`, the cap and
 * whether the tick fitted, then (when it did) its live heap and external memory by phase.
 */
function cappedFigures(c: Awaited<ReturnType<typeof tickUnderCap>>, heapMb: number | null): string {
  const f0 = (x: number) => x.toFixed(0)
  const above = (mb: number) => f0(Math.max(0, mb - c.baselineMb))
  const cap =
    heapMb === null
      ? ''
      : `re-run in a Node process capped at --max-old-space-size=${c.capMb} ` +
        `(${heapMb} MB above the ${f0(c.baselineMb)} MB that process holds before the tick: ` +
        `Node, tsx, Miniflare's client): ${c.passed ? 'passed' : 'FAILED (out of heap)'}`
  if (!c.passed) return cap
  return (
    (cap
      ? `${cap}; live heap above that`
      : `live heap above the ${f0(c.baselineMb)} MB the process held before the tick`) +
    `, the most a full collection left: ${above(c.peakLiveMb)} MB ` +
    `(by phase: ${Object.entries(c.byPhase)
      .map(([phase, mb]) => `${phase} ${above(mb)}`)
      .join(', ')}); with the array buffers and other external memory the same ` +
    `collections left above the ${f0(c.baselineExternalMb)} MB held before the tick ` +
    `(Miniflare's client's during the tick included): ` +
    `${f0(Math.max(0, ...Object.values(c.totalByPhase)))} MB (by phase: ${Object.entries(
      c.totalByPhase,
    )
      .map(([phase, mb]) => `${phase} ${f0(mb)}`)
      .join(', ')}); external memory at most ${f0(c.peakExternalMb)} MB, garbage and ` +
    `Miniflare's client's included; ${c.fullGcs} full collections`
  )
}

/** Runs the scale bench (and the dev-set quality figures) and prints the results as tables. */
export async function runRelatedBench(opts: RelatedBenchOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const sizes = [...(opts.sizes ?? [1000, 10_000, 100_000])].sort((a, b) => a - b)
  const added = opts.added ?? 100
  const heapMb = opts.heapMb ?? 128
  const cronMinutes = opts.cronMinutes ?? 15
  const cacheDir = opts.cacheDir ?? join(tmpdir(), 'edgewire-related-bench')
  const dir = mkdtempSync(join(tmpdir(), 'related-bench-'))
  const f0 = (x: number) => x.toFixed(0)
  const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  try {
    const largest = Math.max(...sizes)
    // Built first: the measured tick runs the code as it was when the bench started.
    const scriptPath = added > 0 ? buildWorker(join(ROOT, '.wrangler', 'related-bench-build')) : ''
    // Checked before the hour of work that leads up to its runs.
    const against = opts.against === undefined ? undefined : resolve(opts.against)
    if (against !== undefined && !existsSync(against)) {
      throw new Error(`--against: no Worker bundle at ${against}`)
    }
    const full = loadCorpus(largest, cacheDir)
    const rows = [
      [
        'articles',
        'vectors stored',
        'load+build (CPU)',
        'rank all (CPU)',
        'full rebuild (CPU)',
        'each run (s)',
        'peak heap',
        'peak RSS',
        `under --max-old-space-size=${heapMb}`,
      ],
    ]
    const runs = Math.max(1, opts.rebuildRuns ?? 3)
    const shardsOf = new Map(
      sizes.map((size) => [size, corpusShards(full.vectors.slice(0, size))] as const),
    )
    const times = new Map<number, number[]>(sizes.map((size) => [size, []]))
    const failed = new Map<number, string>()
    const rebuilds = new Map<number, Rebuild & { out: string }>()
    for (let run = 0; run < runs; run++) {
      for (const size of sizes) {
        if (failed.has(size)) continue
        const sub = join(dir, `rebuild-${size}-${run}`)
        mkdirSync(sub)
        try {
          const r = rebuildInChild(shardsOf.get(size) as string[], sub, heapMb)
          times.get(size)?.push(r.totalMs)
          const best = rebuilds.get(size)
          if (!best || r.totalMs < best.totalMs) rebuilds.set(size, r)
        } catch (error) {
          failed.set(size, String(error).slice(0, 200))
        }
      }
    }
    for (const size of sizes) {
      const shards = shardsOf.get(size) as string[]
      const bytes = shards.reduce((sum, v) => sum + v.length, 0)
      const r = rebuilds.get(size)
      const error = failed.get(size)
      if (r && !error) {
        rows.push([
          String(size),
          `${(bytes / 2 ** 20).toFixed(1)} MiB (${f0(bytes / size)} B/doc)`,
          s1(r.loadBuildMs),
          s1(r.rankMs),
          s1(r.totalMs),
          (times.get(size) ?? []).map((ms) => (ms / 1000).toFixed(1)).join(', '),
          `${f0(r.peakHeapMb)} MB`,
          `${f0(r.maxRssMb)} MB`,
          'passed',
        ])
      } else {
        rows.push([
          String(size),
          `${(bytes / 2 ** 20).toFixed(1)} MiB`,
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          error ?? 'no run',
        ])
      }
    }
    log(
      'Full rebuild: stream the stored corpus shards into the index, rank every list (Node, one ' +
        `core); ${runs} run${runs === 1 ? '' : 's'} per size, the sizes taking turns, the fastest shown`,
    )
    for (const line of table(rows)) log(line)
    // Growth only from sizes whose every run passed.
    const small = failed.has(10_000) ? undefined : rebuilds.get(10_000)
    const big = failed.has(100_000) ? undefined : rebuilds.get(100_000)
    if (small && big) {
      const all = (size: number) => times.get(size) ?? []
      const ratios = all(100_000).flatMap((b) => all(10_000).map((a) => b / a))
      // The median against the median too: one run far faster than its size's others (a 10k
      // rebuild a quarter below its four siblings has been seen) moves the fastest-against-fastest
      // figure alone.
      log(
        `growth 10k -> 100k: ${(big.totalMs / small.totalMs).toFixed(1)}x (fastest against ` +
          `fastest; ${Math.min(...ratios).toFixed(1)}x to ${Math.max(...ratios).toFixed(1)}x over every pair of runs; ` +
          `${(median(all(100_000)) / median(all(10_000))).toFixed(1)}x median against median)`,
      )
    }
    if (full.vectorizeMs > 0) {
      log(
        `vectorize: ${(full.vectorizeMs / largest).toFixed(2)} ms CPU per article (once per change, not per rebuild)`,
      )
    }

    const seeded = rebuilds.get(largest)
    if (added > 0 && seeded) {
      const sub = join(dir, 'tick')
      mkdirSync(sub)
      const corpus =
        largest === full.sources.length
          ? full
          : {
              ...full,
              sources: full.sources.slice(0, largest),
              vectors: full.vectors.slice(0, largest),
            }
      const t = await measureTick(
        corpus,
        seeded.out,
        added,
        sub,
        scriptPath,
        opts.reuseState,
        opts.busyTicks ?? 0,
        heapMb,
        Math.max(1, opts.tickRuns ?? 1),
        opts.build ?? false,
        opts.cold ?? false,
        against,
      )
      const perDay = (24 * 60) / cronMinutes
      // The job writes its status key too when it did work; the report counts that write apart.
      const writes = (r: WorkerdTick['report']) => r.writes + (r.writes + r.deletes > 0 ? 1 : 0)
      const ops = (r: WorkerdTick['report']) => r.reads + writes(r) + r.deletes + r.lists
      const tickRows = [
        [
          'tick',
          'CPU (workerd)',
          'Worker CPU (JS + runtime + GC)',
          'read as before',
          'reads',
          'writes',
          'deletes',
          'lists',
          'KV ops',
          'related ranked',
          'of which placed',
          'related written',
          'build slices',
          'pending after',
          'workerd RSS (peak)',
          'isolate heap after',
          'delta stories',
        ],
        ...t.ticks.map((r) => [
          r.name,
          `${f0(r.cpuMs)} ms`,
          `${f0(totalCpuMs(r.isolate))} ms (${f0(r.isolate.jsMs)} + ${f0(r.isolate.runtimeMs)} + ${f0(r.isolate.gcMs)})`,
          `${f0(totalCpuMs(r.isolateTwoIntervals))} ms`,
          String(r.report.reads),
          String(writes(r.report)),
          String(r.report.deletes),
          String(r.report.lists),
          String(ops(r.report)),
          String(r.report.relatedRanked),
          String(r.report.relatedPlaced ?? 0),
          String(r.report.relatedWritten),
          String(r.report.relatedBuildSlices ?? 0),
          String(r.report.pending),
          `${f0(r.rssMb)} MB (${f0(r.peakRssMb)} MB)`,
          `${f0(r.heapMb)} MB`,
          String(r.deltaStories),
        ]),
      ]
      log('')
      log(
        `Refresh tick: the built Worker's scheduled handler in workerd, local KV holding ${largest} ` +
          `articles (incremental related step above ${INCREMENTAL_ABOVE})` +
          (opts.cold
            ? ', every invocation in a workerd started for it (a cold isolate, --cold)'
            : '') +
          '; CPU is the workerd ' +
          'process (the job and local KV emulation), read from /proc; Worker CPU is the part of it ' +
          'spent by the Worker isolate: its JavaScript (with the builtins and runtime APIs it calls), ' +
          "workerd's native code working for it (runtime: decoding values read) and its " +
          "garbage collector, from workerd's CPU profiler sampling every 2 ms, each sample counting " +
          `at most ${MAX_INTERVALS_PER_SAMPLE} intervals (bench/isolate-inspector.ts says why): ` +
          "what Cloudflare's CPU limit counts; read as before: the same samples counting at most " +
          'two intervals each, as the bench did before, which charged up to 2 ms of local KV to ' +
          'the Worker for each call; RSS includes workerd itself; ' +
          "isolate heap is the Worker's V8 heap plus array buffers as the tick left them " +
          "(garbage included), through workerd's inspector; delta stories are those the job " +
          'keeps in its delta value, waiting to be folded into their shards',
      )
      for (const line of table(tickRows)) log(line)
      log(
        'Worker CPU by step, from the same samples (a step begins at its first sample inside a ' +
          "function no earlier step runs, named through the bundle's source map; REFRESH_STEPS): " +
          t.ticks
            .map(
              (r) =>
                `${r.name}: ${r.steps.map(([step, cpu]) => `${step} ${f0(totalCpuMs(cpu))}`).join(', ')} ms`,
            )
            .join('; '),
      )
      if (t.tickRuns.length > 1) {
        // Each part's invocations over the runs, then every invocation of each run together.
        const parts = (t.tickRuns[0] as WorkerdTick[]).map((r) => r.part)
        const runsOf = (k: number) => t.tickRuns.map((run) => run[k] as WorkerdTick)
        const cpuLine = (cpus: number[]) =>
          `Worker CPU ${cpus.map(f0).join(', ')} ms (fastest ${f0(Math.min(...cpus))}, median ${f0(median(cpus))})`
        const partLine = (k: number) => {
          const runs = runsOf(k)
          const stepNames = (runs[0] as WorkerdTick).steps.map(([step]) => step)
          const stepMedian = (step: string) =>
            median(
              runs.map((r) => {
                const found = r.steps.find(([s]) => s === step)
                return found ? totalCpuMs(found[1]) : 0
              }),
            )
          return (
            `${cpuLine(runs.map((r) => totalCpuMs(r.isolate)))}; by step, the median of the runs: ` +
            `${stepNames.map((step) => `${step} ${f0(stepMedian(step))}`).join(', ')} ms; ` +
            `KV ops ${runs.map((r) => ops(r.report)).join(', ')}`
          )
        }
        const together = t.tickRuns.map((run) =>
          run.reduce((sum, r) => sum + totalCpuMs(r.isolate), 0),
        )
        log(
          `the +${added} tick in ${t.tickRuns.length} runs (the first above, each other on a fresh copy ` +
            `of the seeded state in a new workerd): ` +
            parts.map((part, k) => `${part} invocation: ${partLine(k)}`).join('; ') +
            (parts.length > 1
              ? `; the ${parts.length} invocations together: ${cpuLine(together)}`
              : ''),
        )
      }
      const signed = (ms: number) => `${ms >= 0 ? '+' : ''}${f0(ms)}`
      const cpuOf = (run: WorkerdTick[], k: number | null) =>
        k === null
          ? run.reduce((sum, r) => sum + totalCpuMs(r.isolate), 0)
          : totalCpuMs((run[k] as WorkerdTick).isolate)
      // Runs of two builds in the order they took (A this tree, B the other), each A with the B
      // next to it in time: pairs from `first` on, A B, B A, A B, ...
      const abLines = (order: string[], a: WorkerdTick[][], b: WorkerdTick[][], first: number) => {
        const seen = { A: 0, B: 0 }
        const runOf = order.map((which) => {
          const i = seen[which as 'A' | 'B']++
          return (which === 'A' ? a[i] : b[i]) as WorkerdTick[]
        })
        const pairs: Array<[WorkerdTick[], WorkerdTick[]]> = []
        for (let k = first; k + 1 < order.length; k += 2) {
          const [x, y] = [runOf[k] as WorkerdTick[], runOf[k + 1] as WorkerdTick[]]
          if (order[k] !== order[k + 1]) pairs.push(order[k] === 'A' ? [x, y] : [y, x])
        }
        const abLine = (k: number | null) => {
          const ca = a.map((run) => cpuOf(run, k))
          const cb = b.map((run) => cpuOf(run, k))
          const d = pairs.map(([ra, rb]) => cpuOf(rb, k) - cpuOf(ra, k))
          return (
            `A ${ca.map(f0).join(', ')} (median ${f0(median(ca))}), ` +
            `B ${cb.map(f0).join(', ')} (median ${f0(median(cb))}), ` +
            `B - A by neighbouring pair ${d.map(signed).join(', ')} (median ${signed(median(d))})`
          )
        }
        const parts = (a[0] as WorkerdTick[]).map((r) => r.part)
        return (
          parts.map((part, k) => `${part} invocation: ${abLine(k)}`).join('; ') +
          (parts.length > 1 ? `; the ${parts.length} invocations together: ${abLine(null)}` : '')
        )
      }
      if (t.againstRuns && t.abOrder) {
        log(
          `the +${added} tick, this tree (A) against ${against} (B), Worker CPU in ms, runs in ` +
            `the order ${t.abOrder.join(' ')}, each on a fresh copy of the seeded state in a new ` +
            `workerd: ${abLines(t.abOrder, t.tickRuns, t.againstRuns, 0)}`,
        )
      }
      const removals = t.removalRuns
      if (removals.A.length > 0 && t.abOrder && removals.B.length > 0) {
        const order = t.abOrder.slice(1)
        log(
          `the -${added} tick (${added} stories removed one cron interval after each +${added} ` +
            `run but the first, in its workerd), this tree (A) against ${against} (B), Worker ` +
            `CPU in ms, runs in the order ${order.join(' ')}: ` +
            abLines(order, removals.A, removals.B, 1),
        )
      } else if (removals.A.length > 0) {
        const parts = (removals.A[0] as WorkerdTick[]).map((r) => r.part)
        const line = (k: number | null) => {
          const cpus = removals.A.map((run) => cpuOf(run, k))
          return `${cpus.map(f0).join(', ')} ms (median ${f0(median(cpus))})`
        }
        log(
          `the -${added} tick (${added} stories removed one cron interval after each +${added} ` +
            `run but the first, in its workerd), Worker CPU: ` +
            parts.map((part, k) => `${part} invocation ${line(k)}`).join('; ') +
            (parts.length > 1 ? `; the ${parts.length} invocations together ${line(null)}` : ''),
        )
      }
      const p = t.phases
      log(
        `the same +${added} tick re-run in Node (CPU includes Miniflare's KV client): ` +
          `${f0(t.phasesCpuMs)} ms; by phase: ` +
          Object.entries(p.timings)
            .map(([phase, ms]) => `${phase} ${f0(ms)} ms`)
            .join(', ') +
          `; related lists ranked ${p.relatedRanked} (${p.relatedPlaced} placed), written ${p.relatedWritten}; ` +
          `heap + array buffers peaked ${f0(t.phasesPeakHeapMb)} MB above the bench's own (sampled every 10 ms)`,
      )
      log(
        `its CPU profile: the project's own JavaScript (src/ code and the builtins it calls) ${f0(t.own.ownMs)} ms, ` +
          `garbage collection ${f0(t.own.gcMs)} ms, of ${f0(t.own.busyMs)} ms sampled busy ` +
          "(the rest is Miniflare's KV client and Node)",
      )
      log(`its heap, ${cappedFigures(t.capped, heapMb)}`)
      if (t.buildCapped) {
        // The ticks from the first build slice to the last (the one that wrote the new meta).
        const tickNames = [...new Set(t.ticks.map((r) => r.name.replace(/ [a-z]+$/, '')))]
        const slicesOf = (name: string) =>
          t.ticks
            .filter((r) => r.name === `${name} ${r.part}`)
            .reduce((n, r) => n + (r.report.relatedBuildSlices ?? 0), 0)
        const first = tickNames.findIndex((name) => slicesOf(name) > 0)
        // The build takes slices every tick until its last, the one that wrote the meta; a next
        // build may start in the ticks measured after it, as early as the next.
        let last = t.buildEnd ? tickNames.indexOf(t.buildEnd) : -1
        if (last < first) {
          last = first
          while (first >= 0 && slicesOf(tickNames[last + 1] ?? '') > 0) last++
        }
        const during = tickNames.slice(first, last + 1)
        const rows = t.ticks.filter((r) => during.some((name) => r.name === `${name} ${r.part}`))
        const range = (part: string) => {
          const cpu = rows
            .filter((r) => r.part === part)
            .map((r) => totalCpuMs(r.isolate))
            .sort((a, b) => a - b)
          return cpu.length
            ? `${f0(cpu[0] as number)} to ${f0(cpu.at(-1) as number)} ms (median ${f0(cpu[Math.floor(cpu.length / 2)] as number)})`
            : 'none'
        }
        const parts = [...new Set(rows.map((r) => r.part))]
        log(
          first < 0
            ? `the related index built in slices: no build started within ${BUILD_TICKS_MAX} busy ticks`
            : `the related index built in slices: its first slice in "${tickNames[first]}", its last ` +
                `(the new meta) in "${tickNames[last]}": ${during.length} ticks, slices per tick ` +
                `${during.map(slicesOf).join(', ')}; Worker CPU over those ticks, by invocation: ` +
                parts.map((part) => `${part} ${range(part)}`).join('; ') +
                `; KV ops at most ${Math.max(...rows.map((r) => ops(r.report)))} an invocation; ` +
                `the same build from the +${added} tick's state, every part in one Node process a tick, ` +
                `${t.buildCapped?.ticks} ticks: ${cappedFigures(t.buildCapped as CappedTick & { capMb: number; passed: boolean }, heapMb)}`,
        )
        const after =
          first >= 0
            ? tickNames.slice(last + 1).filter((name) => name.startsWith(`+${added} busy `))
            : []
        if (after.length > 0) {
          const cpuOf = (name: string) =>
            t.ticks
              .filter((r) => r.name === `${name} ${r.part}`)
              .map((r) => `${r.part} ${f0(totalCpuMs(r.isolate))}`)
              .join(', ')
          log(
            'after the build, against its new generation, Worker CPU by invocation: ' +
              after.map((name) => `"${name}" ${cpuOf(name)} ms`).join('; '),
          )
        }
      }
      // A tick's writes and lists are those of its invocations together.
      const tickOf = (prefix: string) => t.ticks.filter((r) => r.name.startsWith(`${prefix} `))
      const sum = (rows: WorkerdTick[], f: (r: WorkerdTick['report']) => number) =>
        rows.reduce((total, r) => total + f(r.report), 0)
      const first = tickOf(`+${added}`).slice(0, t.tickRuns[0]?.length ?? 1)
      const idle = tickOf('idle')
      log(
        `projected per day at a tick every ${cronMinutes} min (${perDay} ticks): ` +
          `${f0(sum(first, (r) => writes(r) + r.deletes) * perDay)} writes+deletes and ` +
          `${f0(sum(first, (r) => r.lists) * perDay)} lists if every tick adds ${added} articles; ` +
          `${f0(sum(idle, (r) => writes(r) + r.deletes) * perDay)} writes and ` +
          `${f0(sum(idle, (r) => r.lists) * perDay)} lists when idle`,
      )
      log(
        `ticks until the ${added} additions are in every peer list: ${t.settleTicks}; until nothing ` +
          `is pending, feeds and sitemaps included: ${t.allSettleTicks} ` +
          `(seeding ${s1(t.seedMs)} wall, ${t.warmupTicks} warm-up tick(s) rewriting ${t.warmupRelated} related lists)`,
      )
      log(
        `then ${added} stories removed at once (the -${added} rows): ticks until the related part ` +
          `had nothing pending: ${t.removal.ticks}; of the ${t.removal.listsRead} related lists ` +
          `stored then, ${t.removal.stillListed} still held a removed story`,
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  if (opts.quality ?? true) {
    const q = measureQuality(join(EVALDATA, 'dev.jsonl'))
    log('')
    for (const [mode, parts] of Object.entries(q)) {
      for (const [part, s] of Object.entries(parts)) {
        log(
          `dev ${mode === 'all' ? 'title+summary+body' : 'title+summary'} ${part} (${s.queries} queries): ` +
            `nDCG@5 ${formatEstimate(s.ndcg)}, wrong-event ${formatEstimate(s.wrongEvent)}, ` +
            `P@5 ${formatEstimate(s.p5)}, MRR ${formatEstimate(s.mrr)}`,
        )
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child')
  const tickAt = process.argv.indexOf('--tick-child')
  if (tickAt >= 0) {
    const persist = process.argv[tickAt + 1] as string
    const baselineOnly = process.argv.includes('--baseline-only')
    const build = process.argv.includes('--build')
    console.log(JSON.stringify(await tickInThisProcess(persist, baselineOnly, build)))
  } else if (at >= 0) {
    const { files, out } = JSON.parse(process.argv[at + 1] as string) as {
      files: string[]
      out: string
    }
    console.log(JSON.stringify(rebuildFromShards(files, out)))
  } else {
    // tsx bench/related-bench.ts [SIZE ...] [--added N] [--no-quality] [--cache DIR]
    //   [--reuse-state DIR] [--busy N] [--build] [--rebuild-runs N] [--tick-runs N] [--cold]
    //   [--against SCRIPT]
    const argv = process.argv.slice(2)
    const value = (name: string) => {
      const i = argv.indexOf(name)
      return i >= 0 ? argv[i + 1] : undefined
    }
    const sizes = argv
      .filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'))
      .map(Number)
      .filter((n) => n > 0)
    const added = value('--added')
    const cacheDir = value('--cache')
    const reuseState = value('--reuse-state')
    const busy = value('--busy')
    const rebuildRuns = value('--rebuild-runs')
    const tickRuns = value('--tick-runs')
    const against = value('--against')
    await runRelatedBench({
      ...(against ? { against } : {}),
      ...(tickRuns !== undefined ? { tickRuns: Number(tickRuns) } : {}),
      ...(rebuildRuns !== undefined ? { rebuildRuns: Number(rebuildRuns) } : {}),
      ...(sizes.length ? { sizes } : {}),
      ...(added !== undefined ? { added: Number(added) } : {}),
      ...(cacheDir ? { cacheDir } : {}),
      ...(reuseState ? { reuseState } : {}),
      ...(busy !== undefined ? { busyTicks: Number(busy) } : {}),
      build: argv.includes('--build'),
      cold: argv.includes('--cold'),
      quality: !argv.includes('--no-quality'),
    })
  }
}
