// The public read API: the article as JSON with its related list, and the refresh status.
import { Hono } from 'hono'
import { cors } from 'hono/cors'
import type { AppEnv } from '../app-env'
import { renderMarkdown } from '../markdown/render-markdown'
import { isPublished, isValidSlug } from '../model/article'
import { parseRecord } from '../storage/articles'
import { getArticleWithRelated, getStatus } from '../storage/indexes'
import { methodNotAllowed } from './method-not-allowed'

export const api = new Hono<AppEnv>()

// D7: the public GET API may be read from any origin.
api.use('*', cors({ origin: '*', allowMethods: ['GET', 'HEAD', 'OPTIONS'] }))

api.get('/articles/:slug', async (c) => {
  const slug = c.req.param('slug')
  if (!isValidSlug(slug)) return c.json({ error: 'not found', slug }, 404)
  const { articleText, related } = await getArticleWithRelated(c.env.KV, slug)
  const stored = parseRecord(articleText)
  if (stored === null || (stored.ok && !isPublished(stored.value, new Date().toISOString()))) {
    return c.json({ error: 'not found', slug }, 404)
  }
  if (!stored.ok) throw new Error(`corrupt article record ${slug}: ${stored.errors[0]?.message}`)
  const { siteUrl } = c.get('site')
  const article = stored.value
  c.header('Cache-Control', 'public, max-age=60')
  return c.json({
    ...article,
    url: `${siteUrl}/articles/${article.slug}`,
    bodyHtml: renderMarkdown(article.body, { baseUrl: `${siteUrl}/articles/${article.slug}` }),
    related: (related?.items ?? [])
      .filter((r) => r.slug !== slug)
      .map((r) => ({ ...r, url: `${siteUrl}/articles/${r.slug}` })),
  })
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

api.all('/articles/:slug', methodNotAllowed('GET, HEAD, OPTIONS'))
api.all('/status', methodNotAllowed('GET, HEAD, OPTIONS'))
