// Scale and quality figures of the related engine: synthetic corpora shaped like the demo corpus
// (Zipf word frequencies, real length mix), full rebuilds and incremental ticks under a 128 MB heap.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  affectedBy,
  buildIndex,
  type DocVector,
  type RelatedItem,
  type RelatedSource,
  rankRelated,
  updateIndex,
  vectorize,
} from '../src/related/index.ts'
import { formatEstimate, measureQuality } from './related-quality.ts'

const EVALDATA = fileURLToPath(new URL('../../shared/evaldata/', import.meta.url))
const KV_VALUE_LIMIT = 25 * 1024 * 1024

/** Options of the bench; sizes are corpus sizes to rebuild. */
export interface RelatedBenchOptions {
  sizes?: number[]
  /** Articles added by the incremental tick (on the largest corpus). */
  added?: number
  /** Heap cap for the rebuild child process, in MB. */
  heapMb?: number
  /** Also print the dev-set quality figures. */
  quality?: boolean
  log?: (line: string) => void
}

// Seeded generator so corpora are the same on every run.
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
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
  const next = random(seed)
  const docs: RelatedSource[] = []
  for (let i = 0; i < count; i++) {
    const story = Math.floor((offset + i) / 5)
    const storyNext = random(story + 7)
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

/** Splits vectors into KV-sized JSON values (each at most 25 MiB). */
export function packValues(vectors: DocVector[]): string[] {
  const values: string[] = []
  let chunk: string[] = []
  let size = 2
  for (const v of vectors) {
    const json = JSON.stringify(v)
    if (size + json.length + 1 > KV_VALUE_LIMIT && chunk.length) {
      values.push(`[${chunk.join(',')}]`)
      chunk = []
      size = 2
    }
    chunk.push(json)
    size += json.length + 1
  }
  if (chunk.length) values.push(`[${chunk.join(',')}]`)
  return values
}

/** Child-process side: load stored values, full rebuild, then an incremental tick. */
export function rebuildFromFiles(files: string[], addedFile: string | null) {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let vectors: DocVector[] = []
  for (const file of files)
    vectors = vectors.concat(JSON.parse(readFileSync(file, 'utf8')) as DocVector[])
  const t1 = performance.now()
  const index = buildIndex(vectors)
  const t2 = performance.now()
  const lists = new Map<string, RelatedItem[]>()
  for (const v of vectors) lists.set(v.slug, rankRelated(index, v.slug))
  const t3 = performance.now()
  const fullCpu = process.cpuUsage(cpu0)
  const result: Record<string, number> = {
    docs: vectors.length,
    loadMs: t1 - t0,
    buildMs: t2 - t1,
    rankAllMs: t3 - t2,
    fullCpuMs: (fullCpu.user + fullCpu.system) / 1000,
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
  }
  if (addedFile) {
    const added = JSON.parse(readFileSync(addedFile, 'utf8')) as DocVector[]
    const cpu1 = process.cpuUsage()
    updateIndex(index, added)
    const affected = affectedBy(
      index,
      added.map((v) => v.slug),
      lists,
    )
    for (const slug of affected) lists.set(slug, rankRelated(index, slug))
    const tickCpu = process.cpuUsage(cpu1)
    result.tickCpuMs = (tickCpu.user + tickCpu.system) / 1000
    result.tickAffected = affected.length
  }
  result.maxRssMb = process.resourceUsage().maxRSS / 1024
  return result
}

/** Runs the scale bench (and the dev-set quality figures) and prints the results. */
export async function runRelatedBench(opts: RelatedBenchOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const sizes = opts.sizes ?? [1000, 10_000, 100_000]
  const addedCount = opts.added ?? 100
  const heapMb = opts.heapMb ?? 128
  const dir = mkdtempSync(join(tmpdir(), 'related-bench-'))
  try {
    const largest = Math.max(...sizes)
    for (const size of sizes) {
      const corpus = syntheticCorpus(size)
      const v0 = performance.now()
      const vectors = corpus.map((doc) => vectorize(doc))
      const vectorizeMs = performance.now() - v0
      const values = packValues(vectors)
      const files = values.map((value, i) => {
        const file = join(dir, `vectors-${size}-${i}.json`)
        writeFileSync(file, value)
        return file
      })
      const bytes = values.reduce((s, v) => s + v.length, 0)
      let addedFile: string | null = null
      if (size === largest && addedCount > 0) {
        const extra = syntheticCorpus(addedCount, 99, size).map((doc) => vectorize(doc))
        addedFile = join(dir, 'added.json')
        writeFileSync(addedFile, JSON.stringify(extra))
      }
      const child = spawnSync(
        process.execPath,
        [
          `--max-old-space-size=${heapMb}`,
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child',
          JSON.stringify({ files, addedFile }),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      )
      if (child.status !== 0) {
        log(
          `${size} docs: rebuild child failed (status ${child.status}): ${child.stderr.slice(-400)}`,
        )
        continue
      }
      const r = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Record<
        string,
        number
      >
      const f = (x: number | undefined) => (x ?? 0).toFixed(0)
      log(
        `${size} docs: vectorize ${f(vectorizeMs)} ms (${(vectorizeMs / size).toFixed(2)} ms/doc); ` +
          `stored vectors ${(bytes / 2 ** 20).toFixed(1)} MiB in ${values.length} KV value(s), ${f(bytes / size)} B/doc; ` +
          `rebuild under --max-old-space-size=${heapMb}: load ${f(r.loadMs)} + build ${f(r.buildMs)} + rank all ${f(r.rankAllMs)} ms ` +
          `= ${f(r.fullCpuMs)} ms CPU; heap ${f(r.heapUsedMb)} MB, peak RSS ${f(r.maxRssMb)} MB; ` +
          `full incl. vectorize ${((vectorizeMs + (r.fullCpuMs ?? 0)) / 1000).toFixed(1)} s`,
      )
      if (r.tickCpuMs !== undefined) {
        log(
          `incremental tick: +${addedCount} docs to ${size}: ${r.tickCpuMs.toFixed(0)} ms CPU (update index, find ${f(r.tickAffected)} affected lists, re-rank them; index already in memory)`,
        )
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  if (opts.quality ?? true) {
    const q = measureQuality(join(EVALDATA, 'dev.jsonl'))
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
    const { files, addedFile } = JSON.parse(process.argv[at + 1] as string) as {
      files: string[]
      addedFile: string | null
    }
    console.log(JSON.stringify(rebuildFromFiles(files, addedFile)))
  } else {
    const sizes = process.argv
      .slice(2)
      .map(Number)
      .filter((n) => n > 0)
    await runRelatedBench(sizes.length ? { sizes } : {})
  }
}
