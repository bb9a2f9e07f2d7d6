import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { keys } from '../../src/storage/keys'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { get, publish, relatedLinks, select, settle } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'

describe('GET /articles/:slug', () => {
  it('shows the headline cleaned, one dateline, subtitle, lede, body and More on theme', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const res = await get(`/articles/${MAIN}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=UTF-8/i)
    const html = await res.text()
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true)
    const [h1] = await select(html, 'h1')
    expect(h1?.text).toBe('Leaders discuss a ceasefire in Ukraine by phone')
    expect(html).not.toContain('**')
    const times = await select(html, 'article time')
    expect(times).toHaveLength(1)
    expect(times[0]?.attrs.datetime).toBe('2025-05-20T10:40:15Z')
    // 10:40 UTC is 11:40 in London in May (BST): printed once, in the configured zone.
    expect(times[0]?.text).toContain('11:40')
    expect((await select(html, '.subtitle'))[0]?.text).toBe('A two-hour call ends without a truce')
    expect((await select(html, '.lede'))[0]?.text).toContain('spoke for two hours')
    expect((await select(html, '.body strong'))[0]?.text).toBe('ceasefire')

    const related = await relatedLinks(html)
    expect(related.length).toBeGreaterThanOrEqual(2)
    expect(related).not.toContain(MAIN)
    expect(new Set(related).size).toBe(related.length)
    // The same story (prisoner exchange, drone attacks) is related; shown newest first.
    expect(related).toContain('prisoner-exchange-agreed')
    const dates = (await select(html, 'section.related time')).map((t) =>
      Date.parse(t.attrs.datetime ?? ''),
    )
    expect([...dates].sort((a, b) => b - a)).toEqual(dates)
  })

  it('agrees with GET /api/articles/:slug', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const html = await (await get(`/articles/${MAIN}`)).text()
    const res = await get(`/api/articles/${MAIN}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const body = (await res.json()) as {
      title: string
      id: string
      url: string
      publishedAt: string
      related: Array<{ slug: string; title: string; publishedAt: string; url: string }>
    }
    expect(body.title).toBe((await select(html, 'h1'))[0]?.text)
    expect(body.url).toBe(`https://news.test/articles/${MAIN}`)
    expect(body.id).toMatch(/^01TEST/)
    expect(new Set(body.related.map((r) => r.slug))).toEqual(new Set(await relatedLinks(html)))
    for (const r of body.related) {
      expect(r.url).toBe(`https://news.test/articles/${r.slug}`)
      expect(Number.isNaN(Date.parse(r.publishedAt))).toBe(false)
    }
  })

  it('renders Markdown without raw HTML or script links', async () => {
    await publish({
      ...fixture(MAIN),
      body: 'Hi <script>alert(1)</script> [bad](javascript:alert(1)) [data](data:text/html,x) [ok](https://example.org/)',
    })
    await settle()
    const html = await (await get(`/articles/${MAIN}`)).text()
    expect(html).not.toContain('<script>alert(1)')
    expect(html).toContain('&lt;script&gt;')
    const links = (await select(html, '.body a')).map((a) => a.attrs.href)
    expect(links).toEqual(['https://example.org/'])
  })

  it('answers 404 for unknown, malformed and overlong slugs', async () => {
    for (const slug of ['no-such-story', 'Bad_Slug', 'a--b', `${'a'.repeat(97)}`, '%00']) {
      const res = await get(`/articles/${slug}`)
      expect(res.status, slug).toBe(404)
      expect(await res.text()).toContain('Page not found')
    }
    expect((await get('/api/articles/Bad_Slug')).status).toBe(404)
  })

  it('hides an embargoed article until its time comes', async () => {
    await publish({ ...fixture(MAIN), publishedAt: '2099-01-01T00:00:00Z' })
    await settle()
    expect((await get(`/articles/${MAIN}`)).status).toBe(404)
    expect((await get(`/api/articles/${MAIN}`)).status).toBe(404)
    expect(await (await get('/')).text()).not.toContain(MAIN)
  })

  it('answers 500 for a corrupt record and keeps other pages working', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await env.KV.put(keys.article(MAIN), '{"slug": 42')
    const res = await get(`/articles/${MAIN}`)
    expect(res.status).toBe(500)
    expect(await res.text()).toContain('Other pages still work')
    expect((await get('/articles/prisoner-exchange-agreed')).status).toBe(200)
    expect((await get('/')).status).toBe(200)
  })
})

describe('GET / and /themes/:theme', () => {
  it('lists the latest stories newest first with theme links', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const html = await (await get('/')).text()
    const links = (await select(html, 'ol.stories h2 a')).map((a) => a.attrs.href)
    expect(links[0]).toBe(`/articles/${MAIN}`)
    expect(links).toHaveLength(FIXTURE_ARTICLES.length)
    const themeLinks = (await select(html, 'nav.themes a')).map((a) => a.attrs.href)
    expect(themeLinks).toContain('/themes/ukraine-war')
  })

  it('paginates with /page/N and ?page=N, and 404s past the end', async () => {
    const many = Array.from({ length: 25 }, (_, i) => ({
      ...fixture('prisoner-exchange-agreed'),
      slug: `story-${String(i).padStart(2, '0')}`,
      publishedAt: new Date(Date.UTC(2025, 0, 1 + i)).toISOString(),
    }))
    await publish(...many)
    await settle()
    const page2 = await (await get('/page/2')).text()
    const query2 = await (await get('/?page=2')).text()
    const slugs = (await select(page2, 'ol.stories h2 a')).map((a) => a.attrs.href)
    expect(slugs).toHaveLength(5)
    expect(slugs[0]).toBe('/articles/story-04')
    expect((await select(query2, 'ol.stories h2 a')).map((a) => a.attrs.href)).toEqual(slugs)
    expect((await get('/page/3')).status).toBe(404)
    expect((await get('/page/0')).status).toBe(404)
    expect((await get('/?page=abc')).status).toBe(404)
  })

  it('shows one theme with its stories and 404s for an unknown theme', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const res = await get('/themes/elections')
    expect(res.status).toBe(200)
    const html = await res.text()
    expect((await select(html, 'h1'))[0]?.text).toBe('Elections')
    const links = (await select(html, 'ol.stories h2 a')).map((a) => a.attrs.href)
    expect(links).toEqual([
      '/articles/europe-welcomes-romania-result',
      '/articles/romania-elects-centrist-mayor',
    ])
    expect((await get('/themes/no-such-theme')).status).toBe(404)
    expect((await get('/themes/Not_A_Slug')).status).toBe(404)
  })

  it('serves the month archive', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const res = await get('/archive/2025/05')
    expect(res.status).toBe(200)
    expect((await select(await res.text(), 'ol.stories h2 a')).length).toBe(FIXTURE_ARTICLES.length)
    expect((await get('/archive/2025/13')).status).toBe(404)
  })
})

describe('HTTP details', () => {
  it('answers HEAD like GET without a body but with its Content-Length', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    for (const path of ['/', `/articles/${MAIN}`, `/api/articles/${MAIN}`, '/no-such-page']) {
      const getRes = await get(path)
      const bytes = (await getRes.arrayBuffer()).byteLength
      const head = await get(path, { method: 'HEAD' })
      expect(head.status, path).toBe(getRes.status)
      expect(head.headers.get('content-length'), path).toBe(String(bytes))
      expect((await head.arrayBuffer()).byteLength, path).toBe(0)
    }
  })

  it('answers other methods with 405 and Allow', async () => {
    for (const path of ['/', `/articles/${MAIN}`, '/themes/elections', '/api/status']) {
      const res = await get(path, { method: 'DELETE' })
      expect(res.status, path).toBe(405)
      expect(res.headers.get('allow'), path).toContain('GET')
    }
  })

  it('sends security headers with a CSP that allows no inline script', async () => {
    const res = await get('/')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('referrer-policy')).toBeTruthy()
  })

  it('serves the stylesheet each page links', async () => {
    const html = await (await get('/')).text()
    const [sheet] = await select(html, 'link[rel="stylesheet"]')
    const res = await get(sheet?.attrs.href ?? '/missing.css')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/css')
    expect(res.headers.get('cache-control')).toContain('immutable')
  })
})

describe('GET /api/status', () => {
  it('reports the article count, the last tick and its KV writes', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const body = (await (await get('/api/status')).json()) as Record<string, unknown>
    expect(body.articles).toBe(FIXTURE_ARTICLES.length)
    expect(body.changesPending).toBe(0)
    expect(typeof body.lastRefreshTick).toBe('string')
    expect(body.lastTickKvWrites).toBeGreaterThan(0)
  })
})
