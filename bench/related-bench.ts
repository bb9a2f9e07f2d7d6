// Scale and quality figures of the related engine: synthetic corpora shaped like the demo corpus
// (Zipf word frequencies, real length mix). A full rebuild per size runs in a child process under
// a 128 MB heap, streaming the stored corpus shards; the 100-article tick runs the real refresh
// job (runRefresh) in Node against Miniflare's KV, seeded with the whole corpus.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  closeSync,
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
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Miniflare } from 'miniflare'
import { readSiteConfig } from '../src/config.ts'
import {
  catalogEntry,
  INCREMENTAL_ABOVE,
  type RefreshReport,
  runRefresh,
} from '../src/jobs/refresh.ts'
import { type Article, parseArticleInput } from '../src/model/article.ts'
import {
  type DocVector,
  indexBuilder,
  listFloor,
  type RelatedSource,
  rankRelated,
  vectorize,
} from '../src/related/index.ts'
import { articleEntries, putArticle } from '../src/storage/articles.ts'
import { contentHash } from '../src/storage/content-hash.ts'
import { encodeValue, type RelatedList } from '../src/storage/indexes.ts'
import { type CatalogEntry, encodeJobState } from '../src/storage/job-state.ts'
import { CATALOG_SHARDS, keys, shardOf } from '../src/storage/keys.ts'
import { formatEstimate, measureQuality } from './related-quality.ts'
import { seededRandom } from './seeded-random'

const EVALDATA = fileURLToPath(new URL('../../shared/evaldata/', import.meta.url))

/** Options of the bench; sizes are corpus sizes to rebuild. */
export interface RelatedBenchOptions {
  sizes?: number[]
  /** Articles added by the measured tick (on the largest corpus); 0 skips the KV tick. */
  added?: number
  /** Heap cap for the rebuild child process, in MB. */
  heapMb?: number
  /** Cron interval in minutes for the per-day projections (wrangler.toml: every 15). */
  cronMinutes?: number
  /** Where generated corpora and vectors are cached between runs (vectorizing is slow). */
  cacheDir?: string
  /** Also print the dev-set quality figures. */
  quality?: boolean
  log?: (line: string) => void
}

interface Shape {
  words: string[]
  cumulative: Float64Array
  lengths: Array<[number, number, number]>
}

/** Word ranks and (title, summary, body) lengths of the demo corpus, Zipf tail beyond it. */
function corpusShape(vocabulary: number): Shape {
  const records = readFileSync(join(EVALDATA, 'demo-corpus.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { title: string; summary: string; body: string })
  const counts = new Map<string, number>()
  const split = (s: string) => s.split(/\s+/).filter(Boolean)
  for (const r of records)
    for (const w of split(`${r.title} ${r.summary} ${r.body}`))
      counts.set(w, (counts.get(w) ?? 0) + 1)
  const real = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(([w]) => w)
  // Beyond the demo vocabulary come invented words: a big corpus has many more names.
  const words = real.concat(
    Array.from({ length: Math.max(0, vocabulary - real.length) }, (_, i) => `Zq${i.toString(36)}`),
  )
  const cumulative = new Float64Array(words.length)
  let sum = 0
  for (let r = 0; r < words.length; r++) cumulative[r] = sum += 1 / (r + 2.7) ** 1.05
  for (let r = 0; r < words.length; r++) cumulative[r] = (cumulative[r] as number) / sum
  const lengths = records.map(
    (r) =>
      [split(r.title).length, split(r.summary).length, split(r.body).length] as [
        number,
        number,
        number,
      ],
  )
  return { words, cumulative, lengths }
}

function sampleText(shape: Shape, next: () => number, count: number, topic: string[]): string {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    // A fifth of the words come from the story's own pool, so stories have real neighbours.
    if (next() < 0.2) {
      out.push(topic[Math.floor(next() * topic.length)] as string)
      continue
    }
    const u = next()
    let lo = 0
    let hi = shape.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((shape.cumulative[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    out.push(shape.words[lo] as string)
  }
  return out.join(' ')
}

/** A synthetic corpus of `count` articles in stories of about five, dated over three years. */
export function syntheticCorpus(count: number, seed = 1, offset = 0): RelatedSource[] {
  const shape = corpusShape(400_000)
  const next = seededRandom(seed)
  const docs: RelatedSource[] = []
  for (let i = 0; i < count; i++) {
    const story = Math.floor((offset + i) / 5)
    const storyNext = seededRandom(story + 7)
    const topic = Array.from(
      { length: 12 },
      () => shape.words[200 + Math.floor(storyNext() * 300_000)] as string,
    )
    const [t, s, b] = shape.lengths[Math.floor(next() * shape.lengths.length)] as [
      number,
      number,
      number,
    ]
    const day = Math.floor(storyNext() * 1000)
    docs.push({
      slug: `story-${offset + i}`,
      title: sampleText(shape, next, t, topic),
      summary: sampleText(shape, next, s, topic),
      body: sampleText(shape, next, Math.min(b, 4000), topic),
      themes: [`theme-${story % 40}`],
      publishedAt: new Date(Date.UTC(2019, 0, 1) + day * 86_400_000)
        .toISOString()
        .replace('.000Z', 'Z'),
    })
  }
  return docs
}

// Cached corpora are keyed by the code that shapes them, so an engine change never reuses stale
// vectors.
export function corpusCacheKey(): string {
  const hash = createHash('sha1')
  hash.update(
    readFileSync(fileURLToPath(import.meta.url), 'utf8').split('// --- end corpus ---')[0] ?? '',
  )
  for (const file of ['doc-vector.ts', 'tokenize.ts', 'codec.ts', 'config.ts']) {
    hash.update(readFileSync(fileURLToPath(new URL(`../src/related/${file}`, import.meta.url))))
  }
  return hash.digest('hex').slice(0, 12)
}
// --- end corpus ---

interface Corpus {
  sources: RelatedSource[]
  vectors: DocVector[]
  /** CPU milliseconds spent vectorizing (0 when read from the cache). */
  vectorizeMs: number
}

function readJsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line)
    .map((line) => JSON.parse(line) as T)
}

function writeJsonl(file: string, rows: unknown[]) {
  const fd = openSync(file, 'w')
  for (let i = 0; i < rows.length; i += 1000) {
    writeSync(
      fd,
      `${rows
        .slice(i, i + 1000)
        .map((r) => JSON.stringify(r))
        .join('\n')}\n`,
    )
  }
  closeSync(fd)
}

/** The synthetic corpus of `count` articles and their vectors, from the cache when present. */
export function loadCorpus(count: number, cacheDir: string): Corpus {
  const dir = join(cacheDir, corpusCacheKey())
  const sourcesFile = join(dir, `sources-${count}.jsonl`)
  const vectorsFile = join(dir, `vectors-${count}.jsonl`)
  if (existsSync(vectorsFile) && existsSync(sourcesFile)) {
    return { sources: readJsonl(sourcesFile), vectors: readJsonl(vectorsFile), vectorizeMs: 0 }
  }
  const sources = syntheticCorpus(count)
  const cpu = process.cpuUsage()
  const vectors = sources.map((doc) => vectorize(doc))
  const used = process.cpuUsage(cpu)
  mkdirSync(dir, { recursive: true })
  writeJsonl(sourcesFile, sources)
  writeJsonl(vectorsFile, vectors)
  return { sources, vectors, vectorizeMs: (used.user + used.system) / 1000 }
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
 * shard parsed at a time), then rank every list; lists go to `out` as `slug\tfloor\tpeer,...`.
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
    lines.push(`${slug}\t${listFloor(ranked)}\t${ranked.map((r) => r.slug).join(',')}`)
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

function rebuildInChild(shards: string[], dir: string, heapMb: number): Rebuild & { out: string } {
  const files = shards.map((value, i) => {
    const file = join(dir, `shard-${i}.json`)
    writeFileSync(file, value)
    return file
  })
  const out = join(dir, 'lists.tsv')
  const child = spawnSync(
    process.execPath,
    [
      `--max-old-space-size=${heapMb}`,
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      JSON.stringify({ files, out }),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  )
  if (child.status !== 0) {
    throw new Error(`rebuild child failed (status ${child.status}): ${child.stderr.slice(-600)}`)
  }
  return { ...(JSON.parse(child.stdout.trim().split('\n').pop() as string) as Rebuild), out }
}

const BENCH_NOW = '2025-06-01T00:00:00Z'

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

interface TickFigures {
  seedMs: number
  warmupTicks: number
  /** related lists the warm-up rewrote: 0 when the seeded lists match the job's ranking */
  warmupRelated: number
  tick: RefreshReport
  tickCpuMs: number
  followUps: RefreshReport[]
  idle: RefreshReport
  idleCpuMs: number
  rssMb: number
}

/**
 * Seeds Miniflare's KV with `count` articles as a settled site would hold them (articles, related
 * lists, the job's catalog and corpus shards), lets the job settle, publishes `added` more, and
 * measures the real runRefresh tick that follows, then the ticks until nothing is pending.
 */
async function measureTick(
  corpus: Corpus,
  listsFile: string,
  added: number,
  dir: string,
): Promise<TickFigures> {
  const mf = new Miniflare({
    modules: true,
    script: SEED_WORKER,
    kvNamespaces: ['KV'],
    kvPersist: join(dir, 'kv'),
  })
  try {
    const kv = (await mf.getKVNamespace('KV')) as unknown as KVNamespace
    const t0 = performance.now()
    const articles = new Map<string, Article>()
    corpus.sources.forEach((s, i) => {
      articles.set(s.slug, toArticle(s, i))
    })
    const catalog = new Map<string, CatalogEntry>()
    const entries: Array<[string, string, unknown?]> = []
    for (const article of articles.values()) {
      const entry = articleEntries(article, 'seed')[1] as {
        key: string
        value: string
        metadata: { h: string }
      }
      entries.push([entry.key, entry.value, entry.metadata])
      catalog.set(article.slug, catalogEntry(article, entry.metadata.h))
    }
    for (const line of readFileSync(listsFile, 'utf8').split('\n')) {
      if (!line) continue
      const [slug, floor, peers] = line.split('\t') as [string, string, string]
      const items = (peers ? peers.split(',') : []).map((peer) => {
        const a = articles.get(peer) as Article
        return { slug: peer, title: a.title, publishedAt: a.publishedAt }
      })
      const list: RelatedList = { version: 1, source: contentHash(JSON.stringify(items)), items }
      const bytes = encodeValue(list)
      entries.push([keys.related(slug), bytes])
      const entry = catalog.get(slug) as CatalogEntry
      entry.relatedHash = contentHash(bytes)
      const f = Number(floor)
      entry.relatedFloor = Number.isFinite(f) ? Number(f.toPrecision(6)) : null
    }
    const corpusMap = new Map(corpus.vectors.map((v) => [v.slug, v]))
    const cursor = {
      version: 1 as const,
      cursor: null,
      lastSlug: null,
      verifyOffset: 0,
      rebuilding: false,
      relatedPending: [],
    }
    for (const [key, value] of encodeJobState(cursor, catalog, corpusMap))
      entries.push([key, value])
    await putAll(mf, entries)
    const seedMs = performance.now() - t0
    const vars = Object.fromEntries(
      Object.entries((await import('../scripts/local-worker.ts')).readLocalConfig().vars),
    )
    const site = readSiteConfig(vars as unknown as Env)
    const now = new Date(BENCH_NOW)
    // Story lists, feeds and sitemaps were not seeded: let the job write them first (unmetered).
    let warmupTicks = 0
    let warmupRelated = 0
    for (; warmupTicks < 10; ) {
      warmupTicks++
      const r = await runRefresh(kv, { now, site, writeBudget: 1_000_000 })
      warmupRelated += r.relatedWritten
      if (r.pending === 0) break
    }
    const extra = syntheticCorpus(added, 99, corpus.sources.length)
    for (const [i, s] of extra.entries()) {
      await putArticle(kv, toArticle(s, corpus.sources.length + i), `add${i}`)
    }
    const cpu = process.cpuUsage()
    const tick = await runRefresh(kv, { now, site })
    const used = process.cpuUsage(cpu)
    const followUps: RefreshReport[] = []
    let last = tick
    while (last.pending > 0 && followUps.length < 10) {
      last = await runRefresh(kv, { now, site })
      followUps.push(last)
    }
    const cpuIdle = process.cpuUsage()
    const idle = await runRefresh(kv, { now, site })
    const usedIdle = process.cpuUsage(cpuIdle)
    return {
      seedMs,
      warmupTicks,
      warmupRelated,
      tick,
      tickCpuMs: (used.user + used.system) / 1000,
      followUps,
      idle,
      idleCpuMs: (usedIdle.user + usedIdle.system) / 1000,
      rssMb: process.resourceUsage().maxRSS / 1024,
    }
  } finally {
    await mf.dispose()
  }
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
    const full = loadCorpus(largest, cacheDir)
    const rows = [
      [
        'articles',
        'vectors stored',
        'load+build (CPU)',
        'rank all (CPU)',
        'full rebuild (CPU)',
        'peak heap',
        'peak RSS',
        `under --max-old-space-size=${heapMb}`,
      ],
    ]
    const rebuilds = new Map<number, Rebuild & { out: string }>()
    for (const size of sizes) {
      const vectors = full.vectors.slice(0, size)
      const shards = corpusShards(vectors)
      const bytes = shards.reduce((sum, v) => sum + v.length, 0)
      const sub = join(dir, `rebuild-${size}`)
      mkdirSync(sub)
      try {
        const r = rebuildInChild(shards, sub, heapMb)
        rebuilds.set(size, r)
        rows.push([
          String(size),
          `${(bytes / 2 ** 20).toFixed(1)} MiB (${f0(bytes / size)} B/doc)`,
          s1(r.loadBuildMs),
          s1(r.rankMs),
          s1(r.totalMs),
          `${f0(r.peakHeapMb)} MB`,
          `${f0(r.maxRssMb)} MB`,
          'passed',
        ])
      } catch (error) {
        rows.push([
          String(size),
          `${(bytes / 2 ** 20).toFixed(1)} MiB`,
          '-',
          '-',
          '-',
          '-',
          '-',
          String(error).slice(0, 200),
        ])
      }
    }
    log(
      'Full rebuild: stream the stored corpus shards into the index, rank every list (Node, one core)',
    )
    for (const line of table(rows)) log(line)
    const small = rebuilds.get(10_000)
    const big = rebuilds.get(100_000)
    if (small && big) log(`growth 10k -> 100k: ${(big.totalMs / small.totalMs).toFixed(1)}x`)
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
      const t = await measureTick(corpus, seeded.out, added, sub)
      const perDay = (24 * 60) / cronMinutes
      const ops = (r: RefreshReport) => r.reads + r.writes + r.deletes + r.lists
      const tickRows = [
        [
          'tick',
          'CPU (Node)',
          'reads',
          'writes',
          'deletes',
          'lists',
          'KV ops',
          'related ranked',
          'related written',
          'pending after',
        ],
        ...[
          [`+${added}`, t.tickCpuMs, t.tick] as const,
          ...t.followUps.map((r, i) => [`follow-up ${i + 1}`, Number.NaN, r] as const),
          ['idle', t.idleCpuMs, t.idle] as const,
        ].map(([name, cpu, r]) => [
          String(name),
          Number.isNaN(cpu) ? '-' : `${f0(cpu)} ms`,
          String(r.reads),
          String(r.writes),
          String(r.deletes),
          String(r.lists),
          String(ops(r)),
          String(r.relatedRanked),
          String(r.relatedWritten),
          String(r.pending),
        ]),
      ]
      log('')
      log(
        `Refresh tick: the real runRefresh in Node against Miniflare's KV holding ${largest} articles ` +
          `(incremental related step above ${INCREMENTAL_ABOVE}); CPU is this Node process ` +
          '(job + Miniflare proxy client), not workerd',
      )
      for (const line of table(tickRows)) log(line)
      const busyWrites = t.tick.writes + t.tick.deletes
      log(
        `projected per day at a tick every ${cronMinutes} min (${perDay} ticks): ` +
          `${f0(busyWrites * perDay)} writes+deletes and ${f0(t.tick.lists * perDay)} lists if every tick ` +
          `adds ${added} articles; ${f0((t.idle.writes + t.idle.deletes) * perDay)} writes and ` +
          `${f0(t.idle.lists * perDay)} lists when idle`,
      )
      log(
        `ticks until the ${added} additions are in every peer list: ${1 + t.followUps.length} ` +
          `(seeding ${s1(t.seedMs)} wall, ${t.warmupTicks} warm-up tick(s) rewriting ${t.warmupRelated} related lists; peak RSS ${f0(t.rssMb)} MB)`,
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
  if (at >= 0) {
    const { files, out } = JSON.parse(process.argv[at + 1] as string) as {
      files: string[]
      out: string
    }
    console.log(JSON.stringify(rebuildFromShards(files, out)))
  } else {
    const sizes = process.argv
      .slice(2)
      .map(Number)
      .filter((n) => n > 0)
    await runRelatedBench(sizes.length ? { sizes } : {})
  }
}
