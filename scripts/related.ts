// `npm run related -- FILE.jsonl [--fields title,summary]`: related lists for a JSONL file, as the
// JSON that score.mjs reads. Ranks by slug, exactly as the Worker does, then maps back to ids.
import { readFileSync } from 'node:fs'
import { parseArticleInput } from '../src/model/article.ts'
import {
  buildIndex,
  type EvalRecord,
  evalRecordToSource,
  type RelatedSource,
  rankRelated,
  vectorize,
} from '../src/related/index.ts'

// Ranking never looks at updatedAt; a fixed value keeps the CLI off the clock.
const FIXED_NOW = '2000-01-01T00:00:00Z'

/** One input line as engine input plus the key it is reported under. */
function toSource(raw: unknown, line: number): { key: string; source: RelatedSource } {
  const record = raw as Partial<EvalRecord & { slug: string; publishedAt: string }>
  if (typeof record.slug === 'string' && typeof record.publishedAt === 'string') {
    // The import's own validation and normalisation, so the text ranked is the text the Worker
    // stores (headline marks dropped, whitespace collapsed, times in UTC).
    const parsed = parseArticleInput(raw, { now: FIXED_NOW, newId: () => 'related-cli' })
    if (!parsed.ok) {
      const detail = parsed.errors.map((e) => `${e.field} ${e.message}`).join('; ')
      throw new Error(`line ${line}: ${detail}`)
    }
    const a = parsed.value
    const source: RelatedSource = {
      slug: a.slug,
      title: a.title,
      summary: a.summary,
      body: a.body,
      themes: a.themes.map((theme) => theme.slug),
      publishedAt: a.publishedAt,
    }
    if (a.subtitle) source.subtitle = a.subtitle
    return { key: a.slug, source }
  }
  if (typeof record.id === 'string')
    return { key: record.id, source: evalRecordToSource(record as EvalRecord) }
  throw new Error(
    `line ${line}: neither an evaluation record (id) nor an article (slug, publishedAt)`,
  )
}

/** Related lists of every record in a JSONL text, keyed by record id (or slug), best first. */
export function relatedForJsonl(text: string, fields: string[] = ['title', 'summary', 'body']) {
  const keyOf = new Map<string, string>()
  const vectors = text
    .split('\n')
    .map((line, i) => [line, i + 1] as const)
    .filter(([line]) => line.trim())
    .map(([line, n]) => {
      const { key, source } = toSource(JSON.parse(line), n)
      if (keyOf.has(source.slug)) throw new Error(`line ${n}: slug ${source.slug} appears twice`)
      keyOf.set(source.slug, key)
      if (!fields.includes('body')) source.body = ''
      if (!fields.includes('summary')) source.summary = ''
      if (!fields.includes('subtitle')) delete source.subtitle
      return vectorize(source)
    })
  const index = buildIndex(vectors)
  const out: Record<string, string[]> = {}
  for (const vector of vectors) {
    const related = rankRelated(index, vector.slug)
    out[keyOf.get(vector.slug) as string] = related.map((item) => keyOf.get(item.slug) as string)
  }
  return out
}

function main(argv: string[]): void {
  const at = argv.indexOf('--fields')
  const fields = at >= 0 ? (argv.splice(at, 2)[1] ?? '').split(',').map((f) => f.trim()) : null
  const [file] = argv
  if (!file) {
    console.error('usage: npm run related -- FILE.jsonl [--fields title,summary]')
    process.exit(2)
  }
  // All fields by default; a field list names what is kept (the subtitle goes with the title).
  const kept = fields ? [...fields, ...(fields.includes('title') ? ['subtitle'] : [])] : undefined
  process.stdout.write(`${JSON.stringify(relatedForJsonl(readFileSync(file, 'utf8'), kept))}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2))
