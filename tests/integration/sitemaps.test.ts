import { env } from 'cloudflare:workers'
import { XMLParser } from 'fast-xml-parser'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { runRefresh } from '../../src/jobs/refresh'
import { getStatus } from '../../src/storage/indexes'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { BASE, get, publish, settle, tick } from './helpers'

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' })
const asArray = <T>(v: T | T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v]

interface UrlEntry {
  loc: string
  lastmod?: string
  'news:news'?: {
    'news:publication': { 'news:name': string; 'news:language': string }
    'news:publication_date': string
    'news:title': string
  }
}

async function fetchXml(path: string) {
  const res = await get(path)
  expect(res.status, path).toBe(200)
  expect(res.headers.get('content-type'), path).toBe('application/xml; charset=utf-8')
  return xml.parse(await res.text())
}

/** Every `<url>` of every sitemap the index lists. */
async function allUrls(): Promise<Map<string, UrlEntry>> {
  const index = await fetchXml('/sitemap.xml')
  const out = new Map<string, UrlEntry>()
  for (const map of asArray<{ loc: string }>(index.sitemapindex.sitemap)) {
    expect(map.loc.startsWith(`${BASE}/sitemaps/`)).toBe(true)
    const set = await fetchXml(map.loc.slice(BASE.length))
    for (const url of asArray<UrlEntry>(set.urlset.url)) out.set(url.loc, url)
  }
  return out
}

/** Ticks at a pinned time until nothing is pending. */
async function settleAt(iso: string): Promise<void> {
  for (let n = 0; n < 20; n++) {
    await tick(Date.parse(iso))
    if ((await getStatus(env.KV))?.pending === 0) return
  }
  throw new Error('refresh did not settle')
}

const articleUrl = (slug: string) => `${BASE}/articles/${slug}`

describe('sitemaps', () => {
  it('lists every published article with lastmod, plus the home and theme pages', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const urls = await allUrls()
    for (const a of FIXTURE_ARTICLES) {
      const entry = urls.get(articleUrl(a.slug))
      expect(entry, a.slug).toBeDefined()
      expect(Number.isNaN(Date.parse(entry?.lastmod ?? ''))).toBe(false)
    }
    expect(urls.has(`${BASE}/`)).toBe(true)
    for (const theme of ['ukraine-war', 'russia', 'elections', 'europe']) {
      expect(urls.has(`${BASE}/themes/${theme}`), theme).toBe(true)
    }
    expect(urls.size).toBe(FIXTURE_ARTICLES.length + 1 + 4)

    const index = await fetchXml('/sitemap.xml')
    const locs = asArray<{ loc: string }>(index.sitemapindex.sitemap).map((s) => s.loc)
    expect(locs).toEqual([`${BASE}/sitemaps/pages.xml`, `${BASE}/sitemaps/2025-05.xml`])
  })

  it('serves sitemaps with ETags, 304s and 404s for months that have none', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const res = await get('/sitemaps/2025-05.xml')
    const etag = res.headers.get('etag') ?? ''
    expect(etag).toMatch(/^"[0-9a-f]+"$/)
    expect(
      (await get('/sitemaps/2025-05.xml', { headers: { 'If-None-Match': etag } })).status,
    ).toBe(304)
    expect((await get('/sitemaps/2024-01.xml')).status).toBe(404)
    expect((await get('/sitemaps/2025-13.xml')).status).toBe(404)
    expect((await get('/sitemaps/feed.xml')).status).toBe(404)
    expect((await get('/sitemap.xml', { method: 'POST' })).status).toBe(405)
  })

  it('re-renders only the current month when an article is published', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settleAt('2025-06-02T09:00:00Z')
    const may = (await get('/sitemaps/2025-05.xml')).headers.get('etag')
    const mayModified = (await get('/sitemaps/2025-05.xml')).headers.get('last-modified')
    const index = (await get('/sitemap.xml')).headers.get('etag')

    await publish({
      ...fixture('prisoner-exchange-agreed'),
      slug: 'talks-resume-in-june',
      title: 'Talks resume in June',
      publishedAt: '2025-06-02T10:00:00Z',
    })
    const report = await runRefresh(env.KV, {
      now: new Date('2025-06-02T10:15:00Z'),
      site: readSiteConfig(env),
    })
    expect(report.documentsWritten).toBeGreaterThan(0)
    const mayAfter = await get('/sitemaps/2025-05.xml')
    expect(mayAfter.headers.get('etag')).toBe(may)
    expect(mayAfter.headers.get('last-modified')).toBe(mayModified)
    expect((await get('/sitemap.xml')).headers.get('etag')).not.toBe(index)
    const june = await fetchXml('/sitemaps/2025-06.xml')
    expect(asArray<UrlEntry>(june.urlset.url).map((u) => u.loc)).toEqual([
      articleUrl('talks-resume-in-june'),
    ])
  })
})

describe('GET /news-sitemap.xml', () => {
  it('lists only the last two days, newest first, with publication, date and title', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settleAt('2025-05-21T12:00:00Z')
    const doc = await fetchXml('/news-sitemap.xml')
    const urls = asArray<UrlEntry>(doc.urlset.url)
    // drone-attacks-before-call (19 May, 06:00 UTC) is older than two days.
    expect(urls.map((u) => u.loc)).toEqual(
      [
        'leaders-discuss-ceasefire-by-phone',
        'prisoner-exchange-agreed',
        'europe-welcomes-romania-result',
        'romania-elects-centrist-mayor',
      ].map(articleUrl),
    )
    const first = urls[0]?.['news:news']
    expect(first?.['news:publication']).toEqual({
      'news:name': 'Edgewire',
      'news:language': 'en',
    })
    expect(first?.['news:publication_date']).toBe('2025-05-20T10:40:15Z')
    expect(first?.['news:title']).toBe('Leaders discuss a ceasefire in Ukraine by phone')
    expect(doc.urlset['@xmlns:news']).toBe('http://www.google.com/schemas/sitemap-news/0.9')
  })

  it('drops stories as they pass two days, and writes nothing while none does', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settleAt('2025-05-21T12:00:00Z')
    const site = readSiteConfig(env)
    // Ticks an hour apart in which no story leaves the window write nothing.
    for (const at of ['2025-05-21T12:45:00Z', '2025-05-21T13:05:00Z']) {
      const idle = await runRefresh(env.KV, { now: new Date(at), site })
      expect(idle.writes + idle.deletes, at).toBe(0)
    }

    // 19 May 13:22 UTC leaves at 21 May 13:22.
    await runRefresh(env.KV, { now: new Date('2025-05-21T13:30:00Z'), site })
    const later = asArray<UrlEntry>((await fetchXml('/news-sitemap.xml')).urlset.url)
    expect(later.map((u) => u.loc)).not.toContain(articleUrl('romania-elects-centrist-mayor'))
    expect(later).toHaveLength(3)
  })
})

describe('GET /robots.txt', () => {
  it('points at both sitemaps and never disallows feeds', async () => {
    const res = await get('/robots.txt')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    const text = await res.text()
    const lines = text.split('\n')
    expect(lines).toContain('User-agent: *')
    expect(lines).toContain(`Sitemap: ${BASE}/sitemap.xml`)
    expect(lines).toContain(`Sitemap: ${BASE}/news-sitemap.xml`)
    const disallowed = lines
      .filter((l) => l.startsWith('Disallow:'))
      .map((l) => l.slice('Disallow:'.length).trim())
      .filter((p) => p !== '')
    for (const feed of ['/feed.xml', '/atom.xml', '/feed.json', '/themes/x/feed.xml', '/feeds']) {
      expect(
        disallowed.some((p) => feed.startsWith(p)),
        feed,
      ).toBe(false)
    }
    const etag = res.headers.get('etag') ?? ''
    expect((await get('/robots.txt', { headers: { 'If-None-Match': etag } })).status).toBe(304)
  })
})
