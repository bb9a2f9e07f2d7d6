// The Hono app: middleware shared by every response, then one router per URL area.
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { secureHeaders } from 'hono/secure-headers'
import type { AppEnv } from './app-env'
import { readSiteConfig } from './config'
import { api } from './routes/api'
import { assets } from './routes/assets'
import { feeds } from './routes/feeds'
import { pages } from './routes/pages'
import { sitemaps } from './routes/sitemaps'
import { ErrorPage } from './views/error-page'

export const app = new Hono<AppEnv>()

app.use(async (c, next) => {
  c.set('site', readSiteConfig(c.env))
  await next()
})

app.use(
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'https:'],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    referrerPolicy: 'strict-origin-when-cross-origin',
    xContentTypeOptions: 'nosniff',
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: 'cross-origin',
  }),
)

// D7: HEAD keeps Content-Length. Hono answers HEAD by running GET and dropping the body, so
// the length is fixed here, on the GET response, before the body goes.
app.use(async (c, next) => {
  await next()
  const res = c.res
  if (!res.body || res.headers.has('content-length')) return
  const body = await res.arrayBuffer()
  const headers = new Headers(res.headers)
  headers.set('content-length', String(body.byteLength))
  c.res = undefined
  c.res = new Response(body, { status: res.status, statusText: res.statusText, headers })
})

app.use(async (c, next) => {
  await next()
  if (c.req.method === 'GET' || c.req.method === 'HEAD') {
    if (!c.res.headers.has('cache-control'))
      c.res.headers.set('Cache-Control', 'public, max-age=60')
  }
})

app.route('/api', api)
app.route('/', assets)
app.route('/', feeds)
app.route('/', sitemaps)
app.route('/', pages)

app.notFound((c) => {
  if (c.req.path.startsWith('/api/')) return c.json({ error: 'not found' }, 404)
  return c.html(
    <ErrorPage
      site={c.get('site')}
      status={404}
      message="There is no story or page at this address."
    />,
    404,
  )
})

/** KV answers 429 when a key is written more than once a second, or a plan's quota is spent. */
function isKvRateLimit(error: Error): boolean {
  return /\b429\b|too many requests/i.test(error.message)
}

app.onError((error, c) => {
  // Middleware such as bearerAuth signals its answer (401) by throwing an HTTPException.
  if (error instanceof HTTPException) return error.getResponse()
  console.error(`${c.req.method} ${c.req.path} failed:`, error)
  c.header('Cache-Control', 'no-store')
  if (isKvRateLimit(error)) {
    // The write did not complete (the record write is the last one); the client retries.
    c.header('Retry-After', '2')
    return c.json({ error: 'storage is busy, retry shortly' }, 503)
  }
  if (c.req.path.startsWith('/api/')) return c.json({ error: 'internal error' }, 500)
  const site = c.get('site') ?? readSiteConfig(c.env)
  return c.html(
    <ErrorPage
      site={site}
      status={500}
      message="This page could not be shown. Other pages still work."
    />,
    500,
  )
})
