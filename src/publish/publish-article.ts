// The write path behind POST/PUT/PATCH/DELETE /api/articles: validate through the one article
// schema, decide against the stored record, then write the article's own key and a change
// marker, nothing shared (D1). Every rejection happens before the first write.
import {
  type Article,
  type FieldError,
  isPublished,
  parseArticleInput,
  sameArticleContent,
} from '../model/article'
import { getArticleRecord, putArticle, putTombstone, recordEtag } from '../storage/articles'
import { applyMergePatch } from './merge-patch'

/** The outcome of a write, mapped one-to-one onto an HTTP answer by the route. */
export type WriteOutcome =
  | { status: 200 | 201; article: Article; etag: string; written: boolean }
  | { status: 204 }
  | { status: 400; errors: FieldError[] }
  | { status: 404 | 409 | 410 | 412; error: string }

/** What every write needs besides its body: the clock and id/stamp sources. */
export interface WriteContext {
  now: string
  newId: () => string
  /** If-Match header value, when the client sent one */
  ifMatch?: string | null
}

const SERVER_FIELDS = ['id', 'updatedAt'] as const

function serverFieldErrors(body: Record<string, unknown>, existing?: Article): FieldError[] {
  return SERVER_FIELDS.flatMap((field) => {
    if (!(field in body)) return []
    if (field === 'id' && existing && body.id === existing.id) return []
    return [{ field, message: 'is assigned by the server' }]
  })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The editable fields of a stored article, as a client would send them. */
function toInput(article: Article): Record<string, unknown> {
  const { id: _id, updatedAt: _updatedAt, ...rest } = article
  return rest
}

function ifMatchFails(header: string | null | undefined, etag: string | null): boolean {
  if (!header) return false
  if (header.trim() === '*') return etag === null
  if (etag === null) return true
  return !header.split(',').some((t) => t.trim() === etag)
}

/** Builds the next stored version and writes it unless it says nothing new. */
async function save(
  kv: KVNamespace,
  body: Record<string, unknown>,
  existing: Article | null,
  ctx: WriteContext,
  created: boolean,
): Promise<WriteOutcome> {
  const parsed = parseArticleInput(body, {
    now: ctx.now,
    newId: () => existing?.id ?? ctx.newId(),
  })
  if (!parsed.ok) return { status: 400, errors: parsed.errors }
  let next = parsed.value
  if (existing) {
    // publishedAt and id never move once a story is out; an embargoed one may be rescheduled.
    const moved = Date.parse(next.publishedAt) !== Date.parse(existing.publishedAt)
    if (moved && isPublished(existing, ctx.now)) {
      return {
        status: 400,
        errors: [{ field: 'publishedAt', message: 'cannot change once the article is published' }],
      }
    }
    next = {
      ...next,
      id: existing.id,
      publishedAt: moved ? next.publishedAt : existing.publishedAt,
    }
    if (sameArticleContent(existing, next)) {
      return {
        status: 200,
        article: existing,
        etag: recordEtag(JSON.stringify(existing)),
        written: false,
      }
    }
    next = { ...next, updatedAt: ctx.now }
  }
  await putArticle(kv, next, ctx.newId())
  return {
    status: created ? 201 : 200,
    article: next,
    etag: recordEtag(JSON.stringify(next)),
    written: true,
  }
}

/** POST /api/articles: a new article; 409 when the slug is taken (best effort: KV has no CAS). */
export async function createArticle(
  kv: KVNamespace,
  body: unknown,
  ctx: WriteContext,
): Promise<WriteOutcome> {
  if (!isObject(body))
    return { status: 400, errors: [{ field: '(body)', message: 'must be a JSON object' }] }
  const serverErrors = serverFieldErrors(body)
  if (serverErrors.length) return { status: 400, errors: serverErrors }
  const slug = typeof body.slug === 'string' ? body.slug : ''
  const parsed = parseArticleInput(body, { now: ctx.now, newId: ctx.newId })
  if (!parsed.ok) return { status: 400, errors: parsed.errors }
  const { stored } = await getArticleRecord(kv, slug)
  if (stored.state === 'live' || stored.state === 'corrupt') {
    return { status: 409, error: `an article with slug "${slug}" already exists` }
  }
  return save(kv, body, null, ctx, true)
}

/** PUT /api/articles/:slug: create or replace the whole article (idempotent). */
export async function replaceArticle(
  kv: KVNamespace,
  slug: string,
  body: unknown,
  ctx: WriteContext,
): Promise<WriteOutcome> {
  if (!isObject(body))
    return { status: 400, errors: [{ field: '(body)', message: 'must be a JSON object' }] }
  if ('slug' in body && body.slug !== slug) {
    return {
      status: 400,
      errors: [{ field: 'slug', message: 'must match the URL (slugs never change)' }],
    }
  }
  const { stored, text } = await getArticleRecord(kv, slug)
  const existing = stored.state === 'live' ? stored.article : null
  if (ifMatchFails(ctx.ifMatch, text && existing ? recordEtag(text) : null)) {
    return { status: 412, error: 'If-Match does not match the current version' }
  }
  const serverErrors = serverFieldErrors(body, existing ?? undefined)
  if (serverErrors.length) return { status: 400, errors: serverErrors }
  const { id: _id, ...rest } = body
  return save(kv, { ...rest, slug }, existing, ctx, existing === null)
}

/** PATCH /api/articles/:slug: an RFC 7396 merge patch over the stored article. */
export async function patchArticle(
  kv: KVNamespace,
  slug: string,
  patch: unknown,
  ctx: WriteContext,
): Promise<WriteOutcome> {
  if (!isObject(patch))
    return { status: 400, errors: [{ field: '(body)', message: 'must be a JSON object' }] }
  const { stored, text } = await getArticleRecord(kv, slug)
  if (stored.state === 'gone') return { status: 410, error: 'this article was deleted' }
  if (stored.state !== 'live') return { status: 404, error: `no article with slug "${slug}"` }
  if (ifMatchFails(ctx.ifMatch, text ? recordEtag(text) : null)) {
    return { status: 412, error: 'If-Match does not match the current version' }
  }
  const serverErrors = serverFieldErrors(patch, stored.article)
  if ('slug' in patch && patch.slug !== slug) {
    serverErrors.push({ field: 'slug', message: 'cannot change (slugs are immutable)' })
  }
  if (serverErrors.length) return { status: 400, errors: serverErrors }
  const merged = applyMergePatch(toInput(stored.article), patch) as Record<string, unknown>
  return save(kv, { ...merged, slug }, stored.article, ctx, false)
}

/** DELETE /api/articles/:slug: leaves a tombstone (410), the next tick drops it everywhere. */
export async function deleteArticle(
  kv: KVNamespace,
  slug: string,
  ctx: WriteContext,
): Promise<WriteOutcome> {
  const { stored, text } = await getArticleRecord(kv, slug)
  if (stored.state === 'gone') return { status: 410, error: 'this article was already deleted' }
  if (stored.state === 'missing') return { status: 404, error: `no article with slug "${slug}"` }
  if (ifMatchFails(ctx.ifMatch, text ? recordEtag(text) : null)) {
    return { status: 412, error: 'If-Match does not match the current version' }
  }
  const id = stored.state === 'live' ? stored.article.id : slug
  await putTombstone(kv, { slug, id }, ctx.now, ctx.newId())
  return { status: 204 }
}
