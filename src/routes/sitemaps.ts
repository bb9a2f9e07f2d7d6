// Crawler URLs: the sitemaps the refresh job pre-rendered (one KV read, same HTTP behaviour as
// feeds) and robots.txt, which points at them.
import { Hono } from 'hono'
import type { AppEnv } from '../app-env'
import type { SiteConfig } from '../config'
import { SITEMAP_PATHS } from '../jobs/plan-sitemaps'
import { contentHash } from '../storage/content-hash'
import { noneMatch } from './conditional-get'
import { serveDocument } from './feeds'
import { methodNotAllowed } from './method-not-allowed'

export const sitemaps = new Hono<AppEnv>()

const GET = 'GET, HEAD'
const SITEMAP_FILE = /^(pages|\d{4}-(0[1-9]|1[0-2]))\.xml$/

/** robots.txt: every crawler may fetch everything but the JSON API; feeds are never disallowed. */
export function robotsTxt(site: SiteConfig): string {
  return [
    'User-agent: *',
    // The API repeats the pages as JSON: crawling it only spends the crawler's budget.
    'Disallow: /api/',
    'Allow: /',
    '',
    `Sitemap: ${site.siteUrl}${SITEMAP_PATHS.index}`,
    `Sitemap: ${site.siteUrl}${SITEMAP_PATHS.news}`,
    '',
  ].join('\n')
}

sitemaps.get(SITEMAP_PATHS.index, serveDocument)
sitemaps.get(SITEMAP_PATHS.news, serveDocument)
sitemaps.get('/sitemaps/:file', (c) =>
  SITEMAP_FILE.test(c.req.param('file')) ? serveDocument(c) : c.notFound(),
)

// Rendered here rather than by the job: a few static lines from config, no KV read at all.
sitemaps.get('/robots.txt', (c) => {
  const body = robotsTxt(c.get('site'))
  const etag = `"${contentHash(body)}"`
  c.header('ETag', etag)
  c.header('Cache-Control', 'public, max-age=86400')
  const ifNoneMatch = c.req.header('If-None-Match')
  if (ifNoneMatch !== undefined && noneMatch(ifNoneMatch, etag)) return c.body(null, 304)
  c.header('Content-Type', 'text/plain; charset=utf-8')
  return c.body(body)
})

for (const path of [SITEMAP_PATHS.index, SITEMAP_PATHS.news, '/sitemaps/:file', '/robots.txt']) {
  sitemaps.all(path, methodNotAllowed(GET))
}
