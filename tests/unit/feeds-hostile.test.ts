import { parseAtomFeed, parseJsonFeed, parseRssFeed } from 'feedsmith'
import { describe, expect, it } from 'vitest'
import { buildAtom, buildFeeds, buildJsonFeed, buildRss } from '../../src/feeds/build-feeds'
import type { Article } from '../../src/model/article'
import {
  pinnedArticles,
  type ReadItem,
  readAtom,
  readJson,
  readRss,
  siteInput,
} from '../fixtures/feeds/feed-fixtures'
import { FORBIDDEN, hostileCorpus, NASTY_READ } from '../fixtures/feeds/hostile-corpus'

const corpus = hostileCorpus()

async function readAll(docs: { rss: string; atom: string; json: string }) {
  return {
    ...(await readRss(docs.rss)),
    ...Object.fromEntries(
      Object.entries(await readAtom(docs.atom)).map(([k, v]) => [`${k} (atom)`, v]),
    ),
    ...readJson(docs.json),
  } as Record<string, ReadItem[]>
}

/** True when every non-void tag in the HTML is closed in order. */
function balanced(html: string): boolean {
  const voids = new Set(['img', 'br', 'hr'])
  const stack: string[] = []
  for (const [, close, name] of html.matchAll(/<(\/?)([a-z0-9]+)\b[^>]*>/g)) {
    if (voids.has(name as string)) continue
    if (!close) stack.push(name as string)
    else if (stack.pop() !== name) return false
  }
  return stack.length === 0
}

describe('the feed builders on a hostile corpus', () => {
  const docs = buildFeeds(siteInput(corpus))

  it('writes documents every parser reads, with every item', async () => {
    for (const [parser, items] of Object.entries(await readAll(docs))) {
      expect(items, parser).toHaveLength(corpus.length)
    }
    expect(parseRssFeed(docs.rss).items).toHaveLength(corpus.length)
    expect(parseAtomFeed(docs.atom).entries).toHaveLength(corpus.length)
    expect(parseJsonFeed(docs.json).items).toHaveLength(corpus.length)
  })

  it('leaves out every code point XML 1.0 forbids, keeping emoji and right-to-left text', async () => {
    for (const doc of Object.values(docs)) {
      expect(FORBIDDEN.test(doc)).toBe(false)
      expect(doc).toContain('😀')
      expect(doc).toContain('שלום עולם')
      expect(doc).toContain('مرحبا')
    }
    for (const [parser, items] of Object.entries(await readAll(docs))) {
      expect(items[0]?.title, parser).toBe(NASTY_READ)
    }
  })

  it('reads `]]>]]>` back intact from titles, summaries, authors, themes and content', async () => {
    expect(docs.rss.match(/<!\[CDATA\[/g)?.length).toBeGreaterThan(0)
    const rss = parseRssFeed(docs.rss).items?.[0]
    // RSS and Atom summaries are HTML, so the plain-text summary arrives escaped once.
    const html = `Summary ${NASTY_READ}`
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
    expect(rss?.description).toBe(html)
    expect(parseAtomFeed(docs.atom).entries?.[0]?.summary?.value).toBe(html)
    expect(rss?.dc?.creators).toEqual(['Ann & <Bob> ]]>'])
    expect(rss?.categories?.[0]?.name).toBe('Q&A <live> ]]>')
    const atom = parseAtomFeed(docs.atom).entries?.[0]
    expect(atom?.authors?.[0]?.name).toBe('Ann & <Bob> ]]>')
    expect(atom?.categories?.[0]?.label).toBe('Q&A <live> ]]>')
    const json = JSON.parse(docs.json).items[0]
    expect(json.summary).toBe(`Summary ${NASTY_READ}`)
    for (const [parser, items] of Object.entries(await readAll(docs))) {
      expect(items[0]?.content, parser).toContain('end of CDATA ]]&gt; inside code')
    }
  })

  it('reads titles made of markup, or of entity-like text, as literal text', async () => {
    for (const [parser, items] of Object.entries(await readAll(docs))) {
      expect(
        items.slice(1, 4).map((i) => i.title),
        parser,
      ).toEqual(['<b></b>', '<script>x</script>', 'AT&amp;T says &lt;hello&gt;'])
    }
    expect(docs.atom).toContain('<title type="text">&lt;script&gt;x&lt;/script&gt;</title>')
  })

  it('writes no script-capable link and no raw HTML from the body', async () => {
    for (const [parser, items] of Object.entries(await readAll(docs))) {
      const content = items[0]?.content ?? ''
      expect(content, parser).not.toMatch(/href="\s*(javascript|data):/i)
      expect(content, parser).not.toMatch(/<script|<img src=x|<[^>]*\sonerror=|<b>raw/i)
      expect(content, parser).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    }
  })

  it('escapes the image URL and alt text in every format', () => {
    const url = 'https://cdn.example/a.jpg?x=1&y=%3C2%3E'
    expect(parseRssFeed(docs.rss).items?.[0]?.enclosures?.[0]?.url).toBe(url)
    const link = parseAtomFeed(docs.atom).entries?.[0]?.links?.find((l) => l.rel === 'enclosure')
    expect(link).toMatchObject({ href: url, title: 'An "alt" & <b>' })
    expect(JSON.parse(docs.json).items[0].attachments[0].url).toBe(url)
  })

  it('fits a 1 MB article into the default 2 MB document whole', () => {
    for (const doc of Object.values(docs)) {
      expect(new TextEncoder().encode(doc).length).toBeLessThanOrEqual(2_000_000)
      expect(doc).not.toContain('>Read more</a>')
    }
  })

  it('truncates the biggest body, with a Read more link, to stay within maxBytes', async () => {
    const small = buildFeeds(siteInput(corpus, { maxBytes: 60_000 }))
    const url = `https://edgewire.example/articles/${corpus[4]?.slug}`
    for (const [format, doc] of Object.entries(small)) {
      expect(new TextEncoder().encode(doc).length, format).toBeLessThanOrEqual(60_000)
      expect(new TextEncoder().encode(doc).length, format).toBeGreaterThan(50_000)
    }
    for (const [parser, items] of Object.entries(await readAll(small))) {
      expect(items, parser).toHaveLength(corpus.length)
      const big = items[4]?.content ?? ''
      expect(big, parser).toContain(`<p><a href="${url}">Read more</a></p>`)
      expect(big.trimEnd().endsWith('Read more</a></p>'), parser).toBe(true)
      expect(balanced(big), parser).toBe(true)
      // The short items keep their whole bodies.
      expect(items[1]?.content.trim(), parser).toBe('<p>A body.</p>')
    }
  })

  it('truncates several 1 MB articles so the default 2 MB cap holds', () => {
    const big = corpus[4] as Article
    const many = [0, 1, 2, 3].map((n) => ({ ...big, id: `01BIG${n}`, slug: `big-${n}` }))
    const out = buildFeeds(siteInput(many))
    for (const [format, doc] of Object.entries(out)) {
      expect(new TextEncoder().encode(doc).length, format).toBeLessThanOrEqual(2_000_000)
      expect(doc.match(/>Read more<\/a>/g), format).toHaveLength(4)
    }
    expect(JSON.parse(out.json).items).toHaveLength(4)
  })

  it('drops the oldest items when even short bodies do not fit', () => {
    const out = buildFeeds(siteInput(pinnedArticles, { maxBytes: 3_500 }))
    for (const [format, doc] of Object.entries(out)) {
      expect(new TextEncoder().encode(doc).length, format).toBeLessThanOrEqual(3_500)
    }
    const kept = JSON.parse(out.json).items.map((i: { id: string }) => i.id)
    expect(kept.length).toBeGreaterThan(0)
    expect(kept.length).toBeLessThan(pinnedArticles.length)
    expect(kept[0]).toBe(`tag:edgewire.example,2025:article:${pinnedArticles[0]?.id}`)
  })

  it('refuses a maxBytes smaller than an empty feed', () => {
    expect(() => buildRss(siteInput(pinnedArticles, { maxBytes: 100 }))).toThrow(RangeError)
  })

  it('returns the same bytes for the same input', () => {
    expect(buildFeeds(siteInput(corpus))).toEqual(docs)
    expect(buildRss(siteInput(corpus))).toBe(docs.rss)
    expect(buildAtom(siteInput(corpus))).toBe(docs.atom)
    expect(buildJsonFeed(siteInput(corpus))).toBe(docs.json)
  })
})
