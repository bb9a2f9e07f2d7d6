// Dev-set quality of the related engine: the metrics of score.mjs, per query, with bootstrap CIs.
import { readFileSync } from 'node:fs'
import {
  buildIndex,
  type EvalRecord,
  evalRecordToSource,
  type RelatedConfig,
  rankRelated,
  vectorize,
} from '../src/related/index.ts'
import { seededRandom } from './seeded-random'

/** An evaluation record with its ground truth. */
export interface LabelledRecord extends EvalRecord {
  cluster: string
  dataset?: string
  topic?: string | null
}

/** Scores of one query, as score.mjs computes them. */
export interface QueryScore {
  id: string
  dataset: string
  /** Tuning half (even ECB+ topic or even story hash) or validation half. */
  half: 'tune' | 'validate'
  p: number
  ndcg: number
  rr: number
  /** Share of the top k from the sibling event of the same topic; null outside ECB+. */
  sibling: number | null
}

/** Reads a JSONL file of labelled records. */
export function readRecords(path: string): LabelledRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as LabelledRecord)
}

/** Ranks every record with the public API; `fields` 'title,summary' empties the body. */
export function rankRecords(
  records: LabelledRecord[],
  config: Partial<RelatedConfig> = {},
  fields: 'all' | 'title,summary' = 'all',
): Record<string, string[]> {
  const idOf = new Map<string, string>()
  const vectors = records.map((record) => {
    const source = evalRecordToSource(record)
    if (fields === 'title,summary') source.body = ''
    idOf.set(source.slug, record.id)
    return vectorize(source, config)
  })
  const index = buildIndex(vectors, config)
  const out: Record<string, string[]> = {}
  for (const vector of vectors) {
    const id = idOf.get(vector.slug) as string
    out[id] = rankRelated(index, vector.slug, config).map((item) => idOf.get(item.slug) as string)
  }
  return out
}

function halfOf(record: LabelledRecord): 'tune' | 'validate' {
  const key = record.topic ?? record.cluster
  const digits = /(\d+)/.exec(key)
  const n = digits ? Number(digits[1]) : [...key].reduce((s, c) => s + c.charCodeAt(0), 0)
  return n % 2 === 0 ? 'tune' : 'validate'
}

/** Per-query P@k, nDCG@k, reciprocal rank and sibling share, exactly as score.mjs defines them. */
export function scoreQueries(
  records: LabelledRecord[],
  lists: Record<string, string[]>,
  k = 5,
): QueryScore[] {
  const cluster = new Map(records.map((r) => [r.id, String(r.cluster)]))
  const topic = new Map(records.filter((r) => r.topic != null).map((r) => [r.id, String(r.topic)]))
  const size = new Map<string, number>()
  for (const c of cluster.values()) size.set(c, (size.get(c) ?? 0) + 1)
  const rows: QueryScore[] = []
  for (const record of records) {
    const c = cluster.get(record.id) as string
    const relevant = (size.get(c) as number) - 1
    if (relevant < 1) continue
    const seen = new Set([record.id])
    const list: string[] = []
    for (const id of lists[record.id] ?? []) {
      if (seen.has(id) || !cluster.has(id)) continue
      seen.add(id)
      list.push(id)
    }
    const rel = list.map((id) => cluster.get(id) === c)
    const top = rel.slice(0, k)
    let dcg = 0
    top.forEach((r, i) => {
      if (r) dcg += 1 / Math.log2(i + 2)
    })
    let idcg = 0
    for (let i = 0; i < Math.min(relevant, k); i++) idcg += 1 / Math.log2(i + 2)
    const first = rel.indexOf(true)
    const t = topic.get(record.id)
    rows.push({
      id: record.id,
      dataset: record.dataset ?? 'all',
      half: halfOf(record),
      p: top.filter(Boolean).length / k,
      ndcg: dcg / idcg,
      rr: first >= 0 ? 1 / (first + 1) : 0,
      sibling:
        t == null
          ? null
          : list.slice(0, k).filter((id) => topic.get(id) === t && cluster.get(id) !== c).length /
            k,
    })
  }
  return rows
}

/** A figure with its bootstrap 95% interval. */
export interface Estimate {
  value: number
  low: number
  high: number
}

/** Mean of `values` with a percentile bootstrap 95% interval over resampled queries. */
export function bootstrap(values: number[], rounds = 2000, seed = 20240501): Estimate {
  const n = values.length
  const mean = n ? values.reduce((s, v) => s + v, 0) / n : 0
  if (n === 0) return { value: 0, low: 0, high: 0 }
  const random = seededRandom(seed)
  const means = new Float64Array(rounds)
  for (let r = 0; r < rounds; r++) {
    let sum = 0
    for (let i = 0; i < n; i++) sum += values[Math.floor(random() * n)] as number
    means[r] = sum / n
  }
  means.sort()
  return {
    value: mean,
    low: means[Math.floor(rounds * 0.025)] as number,
    high: means[Math.floor(rounds * 0.975)] as number,
  }
}

/** The headline figures of a set of queries, each with its interval. */
export interface QualitySummary {
  queries: number
  ndcg: Estimate
  wrongEvent: Estimate
  p5: Estimate
  mrr: Estimate
}

/** Summarises per-query scores into the reported figures. */
export function summarise(rows: QueryScore[]): QualitySummary {
  return {
    queries: rows.length,
    ndcg: bootstrap(rows.map((r) => r.ndcg)),
    wrongEvent: bootstrap(rows.filter((r) => r.sibling != null).map((r) => r.sibling as number)),
    p5: bootstrap(rows.map((r) => r.p)),
    mrr: bootstrap(rows.map((r) => r.rr)),
  }
}

/** Formats an estimate as `0.9812 [0.9750, 0.9866]`. */
export function formatEstimate(e: Estimate): string {
  return `${e.value.toFixed(4)} [${e.low.toFixed(4)}, ${e.high.toFixed(4)}]`
}

/** Quality of the engine on an evaluation file: all queries and each tuning half, both modes. */
export function measureQuality(path: string, config: Partial<RelatedConfig> = {}) {
  const records = readRecords(path)
  const result: Record<string, Record<string, QualitySummary>> = {}
  for (const fields of ['all', 'title,summary'] as const) {
    const rows = scoreQueries(records, rankRecords(records, config, fields))
    result[fields] = {
      all: summarise(rows),
      tune: summarise(rows.filter((r) => r.half === 'tune')),
      validate: summarise(rows.filter((r) => r.half === 'validate')),
    }
  }
  return result
}
