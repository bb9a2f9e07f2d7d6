// Reads a JSON Lines file of articles and validates every record through the one article
// schema, so a file with any bad record is rejected whole with each problem's line number.
import { readFileSync } from 'node:fs'
import { type Article, type FieldError, parseArticleInput } from '../src/model/article.ts'

export interface LineError {
  line: number
  errors: FieldError[]
}

/** Parses and validates a whole file; returns the articles or every error with its line. */
export function readArticlesFile(
  file: string,
  opts: { now: string; newId: () => string },
): { articles: Array<{ line: number; article: Article; hadId: boolean }>; errors: LineError[] } {
  const text = readFileSync(file, 'utf8')
  const articles: Array<{ line: number; article: Article; hadId: boolean }> = []
  const errors: LineError[] = []
  const slugs = new Map<string, number>()
  text.split('\n').forEach((raw, index) => {
    const line = index + 1
    if (!raw.trim()) return
    let record: unknown
    try {
      record = JSON.parse(raw)
    } catch (error) {
      errors.push({
        line,
        errors: [{ field: '(line)', message: `is not valid JSON: ${(error as Error).message}` }],
      })
      return
    }
    const result = parseArticleInput(record, opts)
    if (!result.ok) {
      errors.push({ line, errors: result.errors })
      return
    }
    const first = slugs.get(result.value.slug)
    if (first !== undefined) {
      errors.push({
        line,
        errors: [{ field: 'slug', message: `repeats the slug of line ${first}` }],
      })
      return
    }
    slugs.set(result.value.slug, line)
    const hadId = typeof (record as { id?: unknown }).id === 'string'
    articles.push({ line, article: result.value, hadId })
  })
  return { articles, errors }
}

/** Prints line errors the way the import reports them. */
export function formatLineErrors(file: string, errors: LineError[]): string {
  return errors
    .flatMap((e) => e.errors.map((f) => `${file}:${e.line}: ${f.field} ${f.message}`))
    .join('\n')
}
