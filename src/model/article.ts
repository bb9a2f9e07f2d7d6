// The article model: one schema shared by every input path (import CLI, KV records, write API).
// Types are derived from the schemas, so a field added here is checked everywhere at once.
import * as z from 'zod/mini'

/** D5 slug grammar; the 96-byte cap is checked separately since it counts bytes, not chars. */
export const SLUG_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/
export const SLUG_MAX_BYTES = 96

/** RFC 3339 date-time with an explicit offset: naive times are rejected (D5). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i

/** Ids are server-assigned ULIDs; imports may carry an id from an export, so any short token. */
const ID_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._~-]{0,127}$/

const MAX_TITLE = 300
const MAX_TEXT = 2_000
const MAX_BODY = 2_000_000

/** True when `value` parses as an absolute URL. */
export function isAbsoluteUrl(value: string): boolean {
  try {
    new URL(value)
    return true
  } catch {
    return false
  }
}

/** True when `slug` is a well-formed slug within the byte cap; checked before any KV call. */
export function isValidSlug(slug: string): boolean {
  return slug.length <= SLUG_MAX_BYTES && SLUG_PATTERN.test(slug)
}

const slug = z.string().check(
  z.refine((s) => isValidSlug(s), {
    message: `must be lowercase letters and digits joined by single hyphens, at most ${SLUG_MAX_BYTES} bytes`,
  }),
)

const dateTime = z.string().check(
  z.refine((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), {
    message: 'must be an RFC 3339 date-time with an offset, e.g. 2025-05-20T13:40:15+03:00',
  }),
)

const httpUrl = z.string().check(
  z.maxLength(2048),
  z.refine((s) => /^https?:\/\//i.test(s) && isAbsoluteUrl(s), {
    message: 'must be an absolute http(s) URL',
  }),
)

const text = (max: number) => z.string().check(z.maxLength(max))
const requiredText = (max: number) =>
  z.string().check(
    z.maxLength(max),
    z.refine((s) => s.trim().length > 0, { message: 'must not be empty' }),
  )

export const themeSchema = z.object({
  slug,
  name: requiredText(80),
})

export const imageSchema = z.object({
  url: httpUrl,
  alt: text(500),
  type: z
    .string()
    .check(
      z.regex(/^image\/[a-z0-9.+-]+$/, { message: 'must be an image MIME type, e.g. image/jpeg' }),
    ),
  length: z.int().check(z.positive({ message: 'must be the byte length, a positive integer' })),
  width: z.optional(z.int().check(z.positive())),
  height: z.optional(z.int().check(z.positive())),
})

const articleFields = {
  slug,
  title: requiredText(MAX_TITLE),
  subtitle: z.optional(text(MAX_TEXT)),
  summary: requiredText(MAX_TEXT),
  body: text(MAX_BODY),
  themes: z._default(
    z.array(themeSchema).check(
      z.maxLength(20),
      z.refine((ts) => new Set(ts.map((t) => t.slug)).size === ts.length, {
        message: 'must not repeat a theme',
      }),
    ),
    [],
  ),
  author: z.optional(requiredText(200)),
  image: z.optional(imageSchema),
  sourceUrl: z.optional(httpUrl),
  publishedAt: dateTime,
}

/** What a client or an import file sends: no server fields required. */
export const articleInputSchema = z.strictObject({
  ...articleFields,
  id: z.optional(z.string().check(z.regex(ID_PATTERN, { message: 'must be a short token' }))),
  updatedAt: z.optional(dateTime),
})

/** What storage holds: every server field present, times already in UTC. */
export const articleSchema = z.object({
  ...articleFields,
  id: z.string().check(z.regex(ID_PATTERN)),
  updatedAt: dateTime,
})

export type ArticleInput = z.input<typeof articleInputSchema>
export type Article = z.output<typeof articleSchema>
export type Theme = z.output<typeof themeSchema>
export type ArticleImage = z.output<typeof imageSchema>

/** One problem with one field, as every input path reports it. */
export interface FieldError {
  field: string
  message: string
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

function toFieldErrors(error: z.core.$ZodError): FieldError[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.join('.')
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: at ? `${at}.${key}` : key,
        message: 'is not a field of the article model',
      }))
    }
    return [{ field: at || '(record)', message: issue.message }]
  })
}

/** Normalises a headline: drops stray Markdown emphasis and heading marks, collapses whitespace. */
export function normalizeHeadline(title: string): string {
  return (
    title
      // Control characters, noncharacters and lone surrogates cannot be shown or put in XML.
      .replace(/[\u0000-\u001f\u007f\s]+/g, ' ')
      .replace(
        /[\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
        ' ',
      )
      .replace(/\*{2,}|_{2,}|~{2,}/g, '')
      .trim()
      .replace(/^#{1,6}\s+/, '')
      .replace(/^[*_]+(?=\S)|(?<=\S)[*_]+$/g, '')
      .replace(/\s+/g, ' ')
      .trim()
  )
}

/** RFC 3339 in, canonical UTC out (`2025-05-20T10:40:15Z`, milliseconds only when present). */
export function toUtc(dateTime: string): string {
  return new Date(dateTime).toISOString().replace('.000Z', 'Z')
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim()

export interface NormalizeOptions {
  /** The server's clock, as RFC 3339, used for `updatedAt` when the input has none. */
  now: string
  /** Supplies an id when the input (a new article) has none. */
  newId: () => string
}

/**
 * Validates one input record and turns it into a stored article: headline and short fields
 * normalised, times in UTC, id and updatedAt filled in. The single entry point for every writer.
 */
export function parseArticleInput(raw: unknown, opts: NormalizeOptions): Validated<Article> {
  const parsed = articleInputSchema.safeParse(raw)
  if (!parsed.success) return { ok: false, errors: toFieldErrors(parsed.error) }
  const input = parsed.data
  const title = normalizeHeadline(input.title)
  if (!title)
    return {
      ok: false,
      errors: [{ field: 'title', message: 'has no text once Markdown marks are removed' }],
    }
  const article: Article = {
    id: input.id ?? opts.newId(),
    slug: input.slug,
    title,
    ...(input.subtitle?.trim() ? { subtitle: normalizeHeadline(input.subtitle) } : {}),
    summary: collapse(input.summary),
    body: input.body.replace(/\r\n?/g, '\n'),
    themes: input.themes.map((t) => ({ slug: t.slug, name: collapse(t.name) })),
    ...(input.author ? { author: collapse(input.author) } : {}),
    ...(input.image ? { image: { ...input.image, alt: collapse(input.image.alt) } } : {}),
    ...(input.sourceUrl ? { sourceUrl: input.sourceUrl } : {}),
    publishedAt: toUtc(input.publishedAt),
    updatedAt: toUtc(input.updatedAt ?? opts.now),
  }
  return { ok: true, value: article }
}

/** Checks a record read back from KV; a corrupt one is reported, never trusted. */
export function parseStoredArticle(raw: unknown): Validated<Article> {
  const parsed = articleSchema.safeParse(raw)
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: toFieldErrors(parsed.error) }
}

/** An embargoed article (publishedAt in the future) is hidden everywhere until due (D5). */
export function isPublished(article: Pick<Article, 'publishedAt'>, now: string): boolean {
  return Date.parse(article.publishedAt) <= Date.parse(now)
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(
      ([, v]) => v !== undefined,
    )
    return Object.fromEntries(
      entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, canonical(v)]),
    )
  }
  return value
}

/** True when two articles say the same thing; `updatedAt` is ignored (a no-op edit keeps it). */
export function sameArticleContent(a: Article, b: Article): boolean {
  return (
    JSON.stringify(canonical({ ...a, updatedAt: '' })) ===
    JSON.stringify(canonical({ ...b, updatedAt: '' }))
  )
}
