// The JSON API. Reads are public and open to any origin (D7); writes need the admin bearer
// token, refuse cross-origin requests, and fail closed (503) when no token is configured.
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { ulid } from 'ulidx'
import type { AppEnv } from '../app-env'
import { renderMarkdown } from '../markdown/render-markdown'
import { isPublished, isValidSlug } from '../model/article'
import {
  createArticle,
  deleteArticle,
  patchArticle,
  replaceArticle,
  type WriteOutcome,
} from '../publish/publish-article'
import { recordEtag } from '../storage/articles'
import { getArticleWithRelated, getStatus } from '../storage/indexes'
import { getListingPage } from '../storage/listing'
import { methodNotAllowed } from './method-not-allowed'

export const api = new Hono<AppEnv>()

const publicCors = cors({ origin: '*', allowMethods: ['GET', 'HEAD', 'OPTIONS'] })
// D7: only the public reads carry CORS headers; a write never answers a cross-origin browser.
api.use('*', async (c, next) => {
  if (['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) return publicCors(c, next)
  await next()
})

/** Guards every write: token configured (else 503), same origin, bearer token, body size. */
const writeGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN
  if (!token) {
    return c.json({ error: 'writes are disabled: no ADMIN_TOKEN is configured' }, 503)
  }
  const origin = c.req.header('Origin')
  if (origin && origin !== new URL(c.req.url).origin) {
    return c.json({ error: 'cross-origin writes are not accepted' }, 403)
  }
  // hono's bearerAuth compares tokens in constant time (both sides hashed first).
  return (bearerAuth({ token }) as unknown as MiddlewareHandler<AppEnv>)(c, next)
}

const sizeGuard: MiddlewareHandler<AppEnv> = (c, next) => {
  const maxSize = c.get('site').maxBodyBytes
  const limit = bodyLimit({
    maxSize,
    onError: (ctx) => ctx.json({ error: `request body is over ${maxSize} bytes` }, 413),
  }) as unknown as MiddlewareHandler<AppEnv>
  return limit(c, next)
}

async function readJson(c: Context<AppEnv>, mediaType: string) {
  const type = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== mediaType) {
    return { response: c.json({ error: `Content-Type must be ${mediaType}` }, 415) }
  }
  try {
    return { body: (await c.req.json()) as unknown }
  } catch {
    return {
      response: c.json(
        { error: 'invalid request', errors: [{ field: '(body)', message: 'is not valid JSON' }] },
        400,
      ),
    }
  }
}

function articleUrl(c: Context<AppEnv>, slug: string) {
  return `${c.get('site').siteUrl}/articles/${slug}`
}

function answer(c: Context<AppEnv>, outcome: WriteOutcome) {
  switch (outcome.status) {
    case 200:
    case 201:
      c.header('ETag', outcome.etag)
      if (outcome.status === 201) c.header('Location', `/api/articles/${outcome.article.slug}`)
      return c.json(
        { ...outcome.article, url: articleUrl(c, outcome.article.slug) },
        outcome.status,
      )
    case 204:
      return c.body(null, 204)
    case 400:
      return c.json({ error: 'invalid article', errors: outcome.errors }, 400)
    default:
      return c.json({ error: outcome.error }, outcome.status)
  }
}

function writeContext(c: Context<AppEnv>) {
  return { now: new Date().toISOString(), newId: () => ulid(), ifMatch: c.req.header('If-Match') }
}

api.get('/articles', async (c) => {
  const cursor = c.req.query('cursor') ?? null
  const limit = Number(c.req.query('limit') ?? 100)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return c.json({ error: 'limit must be an integer from 1 to 1000' }, 400)
  }
  const page = await getListingPage(c.env.KV, cursor, limit)
  if (!page) return c.json({ error: 'invalid cursor' }, 400)
  const now = new Date().toISOString()
  c.header('Cache-Control', 'public, max-age=60')
  return c.json({
    articles: page.entries
      .filter((e) => isPublished(e, now))
      .map((e) => ({ ...e, url: articleUrl(c, e.slug) })),
    cursor: page.cursor,
  })
})

api.post('/articles', writeGuard, sizeGuard, async (c) => {
  const read = await readJson(c, 'application/json')
  if (read.response) return read.response
  return answer(c, await createArticle(c.env.KV, read.body, writeContext(c)))
})

api.get('/articles/:slug', async (c) => {
  const slug = c.req.param('slug')
  if (!isValidSlug(slug)) return c.json({ error: 'not found', slug }, 404)
  const { record, related } = await getArticleWithRelated(c.env.KV, slug)
  const { stored, text: articleText } = record
  if (stored.state === 'gone') return c.json({ error: 'gone', slug }, 410)
  if (stored.state === 'corrupt') {
    throw new Error(`corrupt article record ${slug}: ${stored.errors[0]?.message}`)
  }
  if (stored.state === 'missing' || !isPublished(stored.article, new Date().toISOString())) {
    return c.json({ error: 'not found', slug }, 404)
  }
  const { article } = stored
  c.header('Cache-Control', 'public, max-age=60')
  if (articleText) c.header('ETag', recordEtag(articleText))
  return c.json({
    ...article,
    url: articleUrl(c, slug),
    bodyHtml: renderMarkdown(article.body, { baseUrl: articleUrl(c, slug) }),
    related: (related?.items ?? [])
      .filter((r) => r.slug !== slug)
      .map((r) => ({ ...r, url: articleUrl(c, r.slug) })),
  })
})

/** Slug checks shared by the writes on one article: a bad slug can name nothing (404). */
const slugGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  const slug = c.req.param('slug') ?? ''
  if (!isValidSlug(slug)) return c.json({ error: 'not found', slug }, 404)
  await next()
}

api.put('/articles/:slug', writeGuard, sizeGuard, slugGuard, async (c) => {
  const read = await readJson(c, 'application/json')
  if (read.response) return read.response
  return answer(c, await replaceArticle(c.env.KV, c.req.param('slug'), read.body, writeContext(c)))
})

api.patch('/articles/:slug', writeGuard, sizeGuard, slugGuard, async (c) => {
  const read = await readJson(c, 'application/merge-patch+json')
  if (read.response) return read.response
  return answer(c, await patchArticle(c.env.KV, c.req.param('slug'), read.body, writeContext(c)))
})

api.delete('/articles/:slug', writeGuard, slugGuard, async (c) => {
  return answer(c, await deleteArticle(c.env.KV, c.req.param('slug'), writeContext(c)))
})

api.get('/status', async (c) => {
  const status = await getStatus(c.env.KV)
  c.header('Cache-Control', 'no-store')
  return c.json({
    articles: status?.articles ?? 0,
    lastRefreshTick: status?.tickAt ?? null,
    changesPending: status?.pending ?? null,
    lastTickKvWrites: status?.writes ?? 0,
    lastTick: status,
  })
})

api.all('/articles', methodNotAllowed('GET, HEAD, OPTIONS, POST'))
api.all('/articles/:slug', methodNotAllowed('GET, HEAD, OPTIONS, PUT, PATCH, DELETE'))
api.all('/status', methodNotAllowed('GET, HEAD, OPTIONS'))
