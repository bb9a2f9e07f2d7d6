import { describe, expect, it } from 'vitest'
import { NEWS_MAX_ENTRIES, planSitemaps } from '../../src/jobs/plan-sitemaps'
import type { CatalogEntry } from '../../src/storage/job-state'

const SITE = { siteUrl: 'https://news.test', name: 'Edgewire', language: 'en-GB' }

function entry(slug: string, publishedAt: string, updatedAt = publishedAt): CatalogEntry {
  return {
    slug,
    title: `Title of ${slug}`,
    publishedAt,
    updatedAt,
    themes: [{ slug: 'europe', name: 'Europe' }],
    hash: `h-${slug}`,
    relatedHash: '',
  }
}

function render(entries: CatalogEntry[], now: string) {
  const out = new Map<string, { src: string; text: string }>()
  for (const g of planSitemaps(entries, SITE, now, { cacheSeconds: 900 })) {
    const docs = g.render(new Map())
    for (const d of g.documents) out.set(d.path, { src: g.src, text: docs.get(d.path) ?? '' })
  }
  return out
}

describe('planSitemaps()', () => {
  it('keeps at most 1,000 News entries, the newest', () => {
    const start = Date.parse('2025-05-21T00:00:00Z')
    const entries = Array.from({ length: 1005 }, (_, i) =>
      entry(`story-${i}`, new Date(start + i * 1000).toISOString()),
    )
    const news = render(entries, '2025-05-21T12:00:00Z').get('/news-sitemap.xml')?.text ?? ''
    expect(news.match(/<url>/g)).toHaveLength(NEWS_MAX_ENTRIES)
    expect(news).toContain('/articles/story-1004<')
    expect(news).not.toContain('/articles/story-4<')
    expect(news).toContain('<news:language>en</news:language>')
  })

  it('changes the News hash when a story leaves the two-day window, and nothing else', () => {
    const entries = [entry('a', '2025-05-20T10:00:00Z'), entry('b', '2025-04-02T10:00:00Z')]
    const at = render(entries, '2025-05-21T12:00:00Z')
    const stillIn = render(entries, '2025-05-22T09:59:59Z')
    const aLeft = render(entries, '2025-05-22T10:00:01Z')
    for (const [path, doc] of at) expect(stillIn.get(path)?.src, path).toBe(doc.src)
    for (const [path, doc] of at) {
      if (path === '/news-sitemap.xml') expect(aLeft.get(path)?.src).not.toBe(doc.src)
      else expect(aLeft.get(path)?.src, path).toBe(doc.src)
    }
  })

  it('uses the later of published and updated as lastmod, compared as instants', () => {
    const docs = render(
      [entry('a', '2025-05-20T10:00:00.500Z', '2025-05-20T10:00:00Z')],
      '2025-05-21T12:00:00Z',
    )
    expect(docs.get('/sitemaps/2025-05.xml')?.text).toContain(
      '<lastmod>2025-05-20T10:00:00.500Z</lastmod>',
    )
  })

  it('takes the newest change of each month and theme for the index and pages sitemaps', () => {
    const docs = render(
      [
        // Edited the day after: its edit is the newest change of May.
        entry('a', '2025-05-20T10:00:00Z', '2025-05-21T09:00:00Z'),
        // Written early and released later (an embargo): it changed on release.
        entry('b', '2025-05-20T11:00:00Z', '2025-05-01T08:00:00Z'),
        entry('c', '2025-04-02T10:00:00Z', '2025-04-03T10:00:00.250Z'),
      ],
      '2025-05-21T12:00:00Z',
    )
    const index = docs.get('/sitemap.xml')?.text ?? ''
    expect(index).toMatch(/2025-05\.xml<\/loc>\s*<lastmod>2025-05-21T09:00:00Z<\/lastmod>/)
    expect(index).toMatch(/2025-04\.xml<\/loc>\s*<lastmod>2025-04-03T10:00:00.250Z<\/lastmod>/)
    expect(docs.get('/sitemaps/2025-05.xml')?.text).toContain(
      '<lastmod>2025-05-20T11:00:00Z</lastmod>',
    )
    expect(docs.get('/sitemaps/pages.xml')?.text).toMatch(
      /themes\/europe<\/loc>\s*<lastmod>2025-05-21T09:00:00Z<\/lastmod>/,
    )
  })

  it('compares an update of another width as an instant when it is the newest change', () => {
    // As text, `...10:00:00.500Z` sorts before `...10:00:00Z`; as an instant it is later.
    const docs = render(
      [
        entry('x', '2025-06-10T10:00:00Z'),
        entry('y', '2025-06-09T10:00:00Z', '2025-06-10T10:00:00.500Z'),
        entry('z', '2025-06-08T10:00:00Z', '2025-06-09T10:00:00Z'),
      ],
      '2025-06-21T12:00:00Z',
    )
    expect(docs.get('/sitemap.xml')?.text).toMatch(
      /2025-06\.xml<\/loc>\s*<lastmod>2025-06-10T10:00:00.500Z<\/lastmod>/,
    )
  })

  it('escapes hostile titles in the News sitemap', () => {
    const hostile = { ...entry('a', '2025-05-21T10:00:00Z'), title: 'A & B <x> \u0008 ]]>' }
    const news = render([hostile], '2025-05-21T12:00:00Z').get('/news-sitemap.xml')?.text
    expect(news).toContain('<news:title>A &amp; B &lt;x&gt;  ]]&gt;</news:title>')
  })
})
