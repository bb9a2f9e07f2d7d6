// Evaluation records (dev.jsonl and the like) to engine input, one rule for every caller.
import type { RelatedSource } from './doc-vector.ts'

/** A story-cluster evaluation record as the evaluation files hold it. */
export interface EvalRecord {
  id: string
  title: string
  summary?: string | null
  body?: string | null
  published?: string | null
}

/** Date given to records without one: a fixed instant, never the clock. */
export const MISSING_PUBLISHED = '2020-01-01T12:00:00Z'

/** The slug of an evaluation id: lowercased, runs outside [a-z0-9] become '-', trimmed. */
export function evalSlug(id: string): string {
  return id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}

/** Publication time of a record: date-only values are taken at noon UTC. */
export function evalPublishedAt(published: string | null | undefined): string {
  if (!published) return MISSING_PUBLISHED
  return /^\d{4}-\d{2}-\d{2}$/.test(published) ? `${published}T12:00:00Z` : published
}

/** Converts one evaluation record into the engine's input (no themes). */
export function evalRecordToSource(record: EvalRecord): RelatedSource {
  return {
    slug: evalSlug(record.id),
    title: record.title ?? '',
    summary: record.summary ?? '',
    body: record.body ?? '',
    themes: [],
    publishedAt: evalPublishedAt(record.published),
  }
}
