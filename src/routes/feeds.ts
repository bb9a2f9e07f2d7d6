// Feed URLs: one KV read of bytes the refresh job rendered, answered with the conditional GET,
// HEAD and gzip behaviour readers rely on. Never a redirect, never any XML work here (D7).
import { type Context, Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { isValidSlug } from '../model/article'
import { type Coding, getDocument } from '../storage/documents'
import { acceptsGzip, isNotModified } from './conditional-get'
import { methodNotAllowed } from './method-not-allowed'

export const feeds = new Hono<AppEnv>()

const FILES = ['feed.xml', 'atom.xml', 'feed.json']
const MONTH = /^\d{4}$/

function validParams(c: Context<AppEnv>): boolean {
  const theme = c.req.param('theme')
  const year = c.req.param('year')
  const month = c.req.param('month')
  if (theme !== undefined && !isValidSlug(theme)) return false
  if (year !== undefined && !MONTH.test(year)) return false
  if (month !== undefined && !/^(0[1-9]|1[0-2])$/.test(month)) return false
  return true
}

/**
 * What the client itself accepts. Cloudflare (and miniflare, which copies it) rewrites
 * Accept-Encoding before the Worker sees it and keeps the client's own value in
 * `cf.clientAcceptEncoding`; negotiating on the rewritten header would hand gzip's ETag to a
 * client that gets identity bytes.
 */
function clientAcceptEncoding(c: Context<AppEnv>): string | undefined {
  const original = (c.req.raw.cf as { clientAcceptEncoding?: unknown } | undefined)
    ?.clientAcceptEncoding
  return typeof original === 'string' ? original : c.req.header('Accept-Encoding')
}

/** Serves the pre-rendered document at the request path (feeds and sitemaps). */
export async function serveDocument(c: Context<AppEnv>) {
  c.header('Vary', 'Accept-Encoding')
  if (!validParams(c)) return c.notFound()
  const path = c.req.path
  let coding: Coding = acceptsGzip(clientAcceptEncoding(c)) ? 'gzip' : 'identity'
  let doc = await getDocument(c.env.KV, path, coding)
  if (!doc && coding === 'gzip') {
    // A lost gzip copy: serve identity (second read) while the next tick restores it.
    coding = 'identity'
    doc = await getDocument(c.env.KV, path, coding)
  }
  if (!doc) return c.notFound()
  const { meta } = doc
  const headers = new Headers({
    ETag: meta.etag,
    'Last-Modified': new Date(meta.modified).toUTCString(),
    'Cache-Control': meta.cacheControl,
    Vary: 'Accept-Encoding',
  })
  const conditional = {
    ifNoneMatch: c.req.header('If-None-Match'),
    ifModifiedSince: c.req.header('If-Modified-Since'),
  }
  if (isNotModified(conditional, meta.etag, meta.modified)) {
    return new Response(null, { status: 304, headers })
  }
  headers.set('Content-Type', meta.type)
  headers.set('Content-Length', String(meta.length))
  if (coding === 'gzip') headers.set('Content-Encoding', 'gzip')
  // The gzip bytes are already compressed: workerd must pass them through as they are.
  return new Response(doc.body, { status: 200, headers, encodeBody: 'manual' })
}

const bases = ['', '/themes/:theme', '/archive/:year/:month', '/themes/:theme/archive/:year/:month']
for (const base of bases) {
  for (const file of FILES) {
    feeds.get(`${base}/${file}`, serveDocument)
    feeds.all(`${base}/${file}`, methodNotAllowed('GET, HEAD'))
  }
}
