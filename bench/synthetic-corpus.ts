// Synthetic corpora for the related engine's bench: vocabulary and lengths follow the demo
// corpus (Zipf-distributed words, its real mix of title, summary and body lengths), in stories of
// about five articles that share a pool of words. Generated corpora and their vectors are cached
// on disk, keyed by this file and the engine's vector code (vectorizing 100k articles takes
// minutes).
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type DocVector, type RelatedSource, vectorize } from '../src/related/index.ts'
import { seededRandom } from './seeded-random.ts'

const EVALDATA = fileURLToPath(new URL('../../shared/evaldata/', import.meta.url))

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

// Cached corpora are keyed by the code that shapes them (this file and the engine's vector code),
// so a change there never reuses stale vectors, and a change to the bench around them keeps them.
export function corpusCacheKey(): string {
  const hash = createHash('sha1')
  hash.update(readFileSync(fileURLToPath(import.meta.url)))
  for (const file of ['doc-vector.ts', 'tokenize.ts', 'codec.ts', 'config.ts']) {
    hash.update(readFileSync(fileURLToPath(new URL(`../src/related/${file}`, import.meta.url))))
  }
  return hash.digest('hex').slice(0, 12)
}

export interface Corpus {
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
