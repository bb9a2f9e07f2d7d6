import { describe, expect, it } from 'vitest'
import type { ArticleInput } from '../../src/model/article'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { BASE, get, publish, select, settle } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'

const IMAGE = {
  url: 'https://images.example.org/call.jpg',
  alt: 'Two presidents on a video screen',
  type: 'image/jpeg',
  length: 123456,
  width: 1200,
  height: 800,
}

async function page(path: string): Promise<string> {
  const res = await get(path)
  expect(res.status, path).toBe(200)
  return res.text()
}

/** The page's JSON-LD blocks, parsed. */
async function jsonLd(html: string): Promise<Array<Record<string, unknown>>> {
  const blocks = await select(html, 'script[type="application/ld+json"]')
  return blocks.map((b) => JSON.parse(b.text) as Record<string, unknown>)
}

/** `<meta property|name=...>` content by key. */
async function metas(html: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const m of await select(html, 'meta')) {
    const key = m.attrs.property ?? m.attrs.name
    if (key && m.attrs.content !== undefined) out.set(key, m.attrs.content)
  }
  return out
}

async function canonical(html: string): Promise<string | undefined> {
  return (await select(html, 'link[rel="canonical"]'))[0]?.attrs.href
}

describe('article page metadata', () => {
  it('has a canonical URL, NewsArticle JSON-LD and OpenGraph that match the article', async () => {
    await publish({ ...fixture(MAIN), image: IMAGE }, ...FIXTURE_ARTICLES.slice(1))
    await settle()
    const html = await page(`/articles/${MAIN}`)
    const url = `${BASE}/articles/${MAIN}`
    expect(await canonical(html)).toBe(url)

    const [ld, ...rest] = await jsonLd(html)
    expect(rest).toEqual([])
    expect(ld).toMatchObject({
      '@context': 'https://schema.org',
      '@type': 'NewsArticle',
      headline: 'Leaders discuss a ceasefire in Ukraine by phone',
      datePublished: '2025-05-20T10:40:15Z',
      dateModified: '2025-06-01T00:00:00Z',
      author: [{ '@type': 'Person', name: 'Test Desk' }],
      image: [{ '@type': 'ImageObject', url: IMAGE.url, width: 1200, height: 800 }],
      publisher: {
        '@type': 'Organization',
        name: 'Edgewire',
        logo: { '@type': 'ImageObject', url: `${BASE}/favicon.svg` },
      },
      mainEntityOfPage: { '@id': url },
    })

    const meta = await metas(html)
    expect(meta.get('og:type')).toBe('article')
    expect(meta.get('og:url')).toBe(url)
    expect(meta.get('og:title')).toBe('Leaders discuss a ceasefire in Ukraine by phone')
    expect(meta.get('og:description')).toBe(
      'The American and Russian presidents spoke for two hours about a ceasefire in Ukraine.',
    )
    expect(meta.get('article:published_time')).toBe('2025-05-20T10:40:15Z')
    expect(meta.get('og:image')).toBe(IMAGE.url)
    expect(meta.get('og:image:width')).toBe('1200')
    expect(meta.get('og:image:height')).toBe('800')
    expect(meta.get('og:image:alt')).toBe(IMAGE.alt)
    expect(meta.get('twitter:card')).toBe('summary_large_image')
    expect(meta.get('twitter:title')).toBe(meta.get('og:title'))
    expect(meta.get('twitter:image')).toBe(IMAGE.url)
  })

  it('keeps hostile headlines inside the JSON-LD block', async () => {
    const title = 'Breaking </script><script>alert(1)</script> <!-- "quotes" & more'
    await publish({ ...fixture(MAIN), title })
    await settle()
    const html = await page(`/articles/${MAIN}`)
    const block = html.split('<script type="application/ld+json">')[1]?.split('</script>')[0]
    expect(block).toBeDefined()
    expect(block).not.toContain('<')
    expect((JSON.parse(block ?? '') as { headline: string }).headline).toBe(title)
    expect(html).not.toContain('<script>alert(1)')
  })

  it('names the site as author when the article has none, and omits a missing image', async () => {
    await publish(fixture('prisoner-exchange-agreed'))
    await settle()
    const html = await page('/articles/prisoner-exchange-agreed')
    const [ld] = await jsonLd(html)
    expect(ld?.author).toEqual([{ '@type': 'Organization', name: 'Edgewire', url: `${BASE}/` }])
    expect(ld?.image).toBeUndefined()
    expect((await metas(html)).get('twitter:card')).toBe('summary')
  })
})

describe('list page metadata', () => {
  it('gives home and theme pages a canonical URL, WebSite JSON-LD and rel=prev/next', async () => {
    const many: ArticleInput[] = Array.from({ length: 25 }, (_, i) => ({
      slug: `story-${i}`,
      title: `Story number ${i}`,
      summary: 'A short story.',
      body: 'Body.',
      themes: [{ slug: 'europe', name: 'Europe' }],
      publishedAt: new Date(Date.parse('2025-05-01T00:00:00Z') + i * 60_000).toISOString(),
    }))
    await publish(...many)
    await settle()

    const home = await page('/')
    expect(await canonical(home)).toBe(`${BASE}/`)
    expect(await jsonLd(home)).toEqual([
      expect.objectContaining({ '@type': 'WebSite', name: 'Edgewire', url: `${BASE}/` }),
    ])
    expect((await select(home, 'link[rel="next"]'))[0]?.attrs.href).toBe(`${BASE}/page/2`)
    expect(await select(home, 'link[rel="prev"]')).toEqual([])
    expect(await select(home, 'h1')).toHaveLength(1)

    const second = await page('/page/2')
    expect(await canonical(second)).toBe(`${BASE}/page/2`)
    expect((await select(second, 'link[rel="prev"]'))[0]?.attrs.href).toBe(`${BASE}/`)
    expect(await select(second, 'link[rel="next"]')).toEqual([])

    const theme = await page('/themes/europe')
    expect(await canonical(theme)).toBe(`${BASE}/themes/europe`)
    expect((await jsonLd(theme))[0]?.['@type']).toBe('WebSite')
    expect((await select(theme, 'link[rel="next"]'))[0]?.attrs.href).toBe(
      `${BASE}/themes/europe/page/2`,
    )

    // The archive pager's links answer too.
    const archive = await page('/archive/2025/05')
    const next = (await select(archive, 'link[rel="next"]'))[0]?.attrs.href ?? ''
    expect(next).toBe(`${BASE}/archive/2025/05/page/2`)
    expect(await select(await page(next.slice(BASE.length)), 'ol.stories li')).toHaveLength(5)
  })
})

describe('GET /feeds', () => {
  it('lists the site feeds and every theme feed in three formats, linked from every page', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const html = await page('/feeds')
    const links = (await select(html, 'main a')).map((a) => a.attrs.href ?? '')
    const expected = [
      '',
      '/themes/elections',
      '/themes/europe',
      '/themes/russia',
      '/themes/ukraine-war',
    ].flatMap((base) => ['feed.xml', 'atom.xml', 'feed.json'].map((f) => `${BASE}${base}/${f}`))
    expect(links.sort()).toEqual(expected.sort())
    for (const link of links) expect((await get(link.slice(BASE.length))).status, link).toBe(200)
    expect(await select(html, 'h1')).toHaveLength(1)

    for (const path of ['/', `/articles/${MAIN}`, '/themes/europe', '/no-such-page']) {
      const res = await get(path)
      const footer = await select(await res.text(), 'footer a[href="/feeds"]')
      expect(footer, path).toHaveLength(1)
    }
  })
})
