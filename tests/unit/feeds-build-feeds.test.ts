import { parseAtomFeed, parseJsonFeed, parseRssFeed } from 'feedsmith'
import Parser from 'rss-parser'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  buildAtom,
  buildFeeds,
  buildJsonFeed,
  buildRss,
  feedId,
  feedItemId,
} from '../../src/feeds/build-feeds'
import {
  parseXml,
  pinnedArticles,
  pinnedSite,
  readAtom,
  readJson,
  readRss,
  siteInput,
} from '../fixtures/feeds/feed-fixtures'

const SNAPSHOTS = '../fixtures/feeds/__snapshots__'
const ids = pinnedArticles.map((a) => `tag:edgewire.example,2025:article:${a.id}`)
const ukraine = { slug: 'ukraine-war', name: 'Ukraine war' }
const themeInput = siteInput(
  pinnedArticles.filter((a) => a.themes.some((t) => t.slug === ukraine.slug)),
  {
    scope: { kind: 'theme', theme: ukraine },
    paths: {
      html: '/themes/ukraine-war',
      rss: '/themes/ukraine-war/feed.xml',
      atom: '/themes/ukraine-war/atom.xml',
      json: '/themes/ukraine-war/feed.json',
    },
  },
)

afterEach(() => {
  vi.useRealTimers()
})

describe('buildRss(), buildAtom(), buildJsonFeed() on the pinned fixture', () => {
  it('writes the stored snapshot bytes for the site feed', async () => {
    await expect(buildRss(siteInput())).toMatchFileSnapshot(`${SNAPSHOTS}/site.rss.xml`)
    await expect(buildAtom(siteInput())).toMatchFileSnapshot(`${SNAPSHOTS}/site.atom.xml`)
    await expect(buildJsonFeed(siteInput())).toMatchFileSnapshot(`${SNAPSHOTS}/site.feed.json`)
  })

  it('writes the stored snapshot bytes for a theme feed', async () => {
    await expect(buildRss(themeInput)).toMatchFileSnapshot(`${SNAPSHOTS}/theme.rss.xml`)
    await expect(buildAtom(themeInput)).toMatchFileSnapshot(`${SNAPSHOTS}/theme.atom.xml`)
    await expect(buildJsonFeed(themeInput)).toMatchFileSnapshot(`${SNAPSHOTS}/theme.feed.json`)
  })

  it('lists every article, in input order, through every parser', async () => {
    const docs = buildFeeds(siteInput())
    const readers = { ...(await readRss(docs.rss)), ...(await readAtom(docs.atom)) }
    for (const [parser, items] of Object.entries({ ...readers, ...readJson(docs.json) })) {
      expect(
        items.map((i) => i.id),
        parser,
      ).toEqual(ids)
      expect(
        items.map((i) => i.title),
        parser,
      ).toEqual(pinnedArticles.map((a) => a.title))
      expect(
        items.map((i) => i.link),
        parser,
      ).toEqual(pinnedArticles.map((a) => `https://edgewire.example/articles/${a.slug}`))
    }
  })

  it('gives each article the same tag: id in all three formats, and RSS guids are not permalinks', () => {
    const docs = buildFeeds(siteInput())
    const rss = parseRssFeed(docs.rss)
    expect(rss.items?.map((i) => i.guid)).toEqual(
      ids.map((value) => ({ value, isPermaLink: false })),
    )
    expect(parseAtomFeed(docs.atom).entries?.map((e) => e.id)).toEqual(ids)
    expect(parseJsonFeed(docs.json).items?.map((i) => i.id)).toEqual(ids)
    expect(feedItemId(pinnedSite, { id: 'X1' })).toBe('tag:edgewire.example,2025:article:X1')
  })

  it('keeps item and feed ids when the headline, slug and site URL change', () => {
    const renamed = pinnedArticles.map((a) => ({
      ...a,
      title: `New ${a.title}`,
      slug: `new-${a.slug}`,
    }))
    const moved = {
      ...siteInput(renamed),
      site: { ...pinnedSite, siteUrl: 'https://other.example' },
    }
    for (const build of [buildRss, buildAtom, buildJsonFeed]) {
      const before = build(siteInput())
      const after = build(moved)
      for (const id of [...ids, 'tag:edgewire.example,2025:site']) {
        // Only Atom has a feed-level id element.
        if (build !== buildAtom && id.endsWith(':site')) continue
        expect(before).toContain(id)
        expect(after).toContain(id)
      }
      expect(after).toContain('https://other.example/articles/new-')
    }
    expect(parseAtomFeed(buildAtom(moved)).id).toBe('tag:edgewire.example,2025:site')
  })

  it('uses tag: ids for the site and theme feeds', () => {
    expect(feedId(pinnedSite, { kind: 'site' })).toBe('tag:edgewire.example,2025:site')
    expect(parseAtomFeed(buildAtom(themeInput)).id).toBe(
      'tag:edgewire.example,2025:theme:ukraine-war',
    )
    expect(() =>
      feedItemId({ ...pinnedSite, feedIdAuthority: 'https://x.example' }, { id: 'a' }),
    ).toThrow(/RFC 4151/)
  })

  it('dates the feed by the newest updatedAt, not the newest publishedAt or the clock', () => {
    // The second article was edited last, after the newest one was published.
    const edited = pinnedArticles.map((a, i) =>
      i === 1 ? { ...a, updatedAt: '2025-05-18T12:00:00Z' } : a,
    )
    vi.useFakeTimers()
    vi.setSystemTime(new Date('2031-01-01T00:00:00Z'))
    expect(parseRssFeed(buildRss(siteInput(edited))).lastBuildDate).toBe(
      'Sun, 18 May 2025 12:00:00 GMT',
    )
    expect(parseAtomFeed(buildAtom(siteInput(edited))).updated).toBe('2025-05-18T12:00:00.000Z')
    expect(parseAtomFeed(buildAtom(siteInput())).updated).toBe('2025-05-17T08:30:00.000Z')
  })

  it('dates an empty feed by the date in the id authority', () => {
    const empty = siteInput([])
    expect(parseRssFeed(buildRss(empty)).lastBuildDate).toBe('Wed, 01 Jan 2025 00:00:00 GMT')
    expect(parseAtomFeed(buildAtom(empty)).updated).toBe('2025-01-01T00:00:00.000Z')
    expect(JSON.parse(buildJsonFeed(empty)).items).toEqual([])
  })

  it('returns the same bytes for the same input whatever the clock says', () => {
    const first = buildFeeds(siteInput())
    vi.useFakeTimers()
    vi.setSystemTime(new Date('2040-06-01T00:00:00Z'))
    expect(buildFeeds(siteInput())).toEqual(first)
    expect(buildRss(siteInput())).toBe(first.rss)
  })

  it('names RSS authors with dc:creator and writes no bare <author>', async () => {
    const doc = buildRss(siteInput())
    const tree = parseXml(doc)
    expect(tree.rss['@_xmlns:dc']).toBe('http://purl.org/dc/elements/1.1/')
    const items = tree.rss.channel.item as Record<string, unknown>[]
    expect(items.map((i) => i['dc:creator'] ?? null)).toEqual(
      pinnedArticles.map((a) => a.author ?? null),
    )
    expect(items.some((i) => 'author' in i)).toBe(false)
    const read = await new Parser({ customFields: { item: ['dc:creator'] } }).parseString(doc)
    expect(read.items[0]?.creator).toBe('Olena Kovalenko')
  })

  it('writes RSS channel fields in the expected forms', () => {
    const channel = parseXml(buildRss(siteInput())).rss.channel
    expect(channel.link).toBe('https://edgewire.example/')
    expect(channel.language).toBe('en')
    expect(channel.copyright).toBe('© 2025 Edgewire')
    expect(channel.description).toBe('Fast news from the edge')
    expect(channel.lastBuildDate).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
    expect(channel.item[0].pubDate).toBe('Fri, 16 May 2025 14:05:00 GMT')
    expect(channel.generator).toBeUndefined()
  })

  it('links self and hub in RSS and Atom, and lists the hub in JSON Feed', () => {
    const rss = parseRssFeed(buildRss(siteInput()))
    expect(rss.atom?.links).toEqual([
      { href: 'https://edgewire.example/feed.xml', rel: 'self', type: 'application/rss+xml' },
      { href: 'https://hub.example/websub', rel: 'hub' },
    ])
    const atom = parseAtomFeed(buildAtom(themeInput))
    expect(atom.links?.find((l) => l.rel === 'self')?.href).toBe(
      'https://edgewire.example/themes/ukraine-war/atom.xml',
    )
    expect(atom.links?.find((l) => l.rel === 'hub')?.href).toBe('https://hub.example/websub')
    expect(atom.links?.find((l) => l.rel === 'alternate')?.href).toBe(
      'https://edgewire.example/themes/ukraine-war',
    )
    const json = JSON.parse(buildJsonFeed(themeInput))
    expect(json.feed_url).toBe('https://edgewire.example/themes/ukraine-war/feed.json')
    expect(json.hubs).toEqual([{ type: 'WebSub', url: 'https://hub.example/websub' }])
    const noHub = buildFeeds({ ...siteInput(), site: { ...pinnedSite, hub: undefined } })
    expect(noHub.rss).not.toContain('rel="hub"')
    expect(noHub.atom).not.toContain('rel="hub"')
    expect(noHub.json).not.toContain('"hubs"')
  })

  it('writes Atom titles as type="text" and content as type="html"', () => {
    const entries: Record<string, Record<string, string>>[] = parseXml(buildAtom(siteInput())).feed
      .entry
    for (const entry of entries) {
      expect(entry.title?.['@_type']).toBe('text')
      expect(entry.content?.['@_type']).toBe('html')
      expect(entry.summary?.['@_type']).toBe('html')
    }
  })

  it('carries full content and the summary in every format', async () => {
    const docs = buildFeeds(siteInput())
    const [first] = pinnedArticles
    const rss = parseRssFeed(docs.rss).items?.[0]
    expect(rss?.description).toBe(first?.summary)
    expect(rss?.content?.encoded).toContain('<h2>What was agreed</h2>')
    const atom = parseAtomFeed(docs.atom).entries?.[0]
    expect(atom?.summary?.value).toBe(first?.summary)
    expect(atom?.content?.value).toContain('<li>A prisoner exchange of 1,000 for 1,000</li>')
    const json = JSON.parse(docs.json).items[0]
    expect(json.summary).toBe(first?.summary)
    expect(json.content_html).toContain('<h2>What was agreed</h2>')
    // An empty body falls back to the summary so no item is blank.
    expect(JSON.parse(docs.json).items[3].content_html).toBe(
      '<p>Ships left Odesa for the first time in a month.</p>\n',
    )
  })

  it('makes every link and image inside content absolute against the article URL', async () => {
    for (const items of Object.values({
      ...(await readRss(buildRss(siteInput()))),
      ...(await readAtom(buildAtom(siteInput()))),
      ...readJson(buildJsonFeed(siteInput())),
    })) {
      const content = items[0]?.content ?? ''
      expect(content).toContain('href="https://edgewire.example/documents/istanbul-statement"')
      expect(content).toContain('href="https://maps.example/istanbul?z=12&amp;layer=roads"')
      // Resolved as the article page resolves it: a sibling of /articles/<slug>.
      expect(content).toContain('src="https://edgewire.example/articles/images/venue.jpg"')
      for (const [, url] of content.matchAll(/(?:href|src)="([^"]*)"/g)) {
        expect(url).toMatch(/^https:\/\//)
      }
    }
  })

  it('attaches the lead image as enclosure, Atom enclosure link and JSON image and attachment', () => {
    const docs = buildFeeds(siteInput())
    const url = 'https://cdn.edgewire.example/img/istanbul-talks.jpg'
    expect(parseRssFeed(docs.rss).items?.[0]?.enclosures).toEqual([
      { url, length: 184233, type: 'image/jpeg' },
    ])
    expect(
      parseAtomFeed(docs.atom).entries?.[0]?.links?.find((l) => l.rel === 'enclosure'),
    ).toEqual({
      href: url,
      rel: 'enclosure',
      type: 'image/jpeg',
      length: 184233,
      title: 'Delegates at a long table',
    })
    const item = JSON.parse(docs.json).items[0]
    expect(item.image).toBe(url)
    expect(item.attachments).toEqual([
      { url, mime_type: 'image/jpeg', size_in_bytes: 184233, title: 'Delegates at a long table' },
    ])
    expect(JSON.parse(docs.json).items[1].attachments).toBeUndefined()
  })

  it('turns themes into RSS categories, Atom categories and JSON tags', () => {
    const docs = buildFeeds(siteInput())
    expect(parseRssFeed(docs.rss).items?.[0]?.categories).toEqual([
      { name: 'Ukraine war', domain: 'https://edgewire.example/themes/' },
      { name: 'Diplomacy', domain: 'https://edgewire.example/themes/' },
    ])
    expect(parseAtomFeed(docs.atom).entries?.[0]?.categories).toEqual([
      { term: 'ukraine-war', scheme: 'https://edgewire.example/themes/', label: 'Ukraine war' },
      { term: 'diplomacy', scheme: 'https://edgewire.example/themes/', label: 'Diplomacy' },
    ])
    expect(JSON.parse(docs.json).items[0].tags).toEqual(['Ukraine war', 'Diplomacy'])
  })

  it('writes JSON Feed 1.1, not the 1.0 the feed package writes', () => {
    const json = JSON.parse(buildJsonFeed(siteInput()))
    expect(json.version).toBe('https://jsonfeed.org/version/1.1')
    expect(json).toMatchObject({
      title: 'Edgewire',
      home_page_url: 'https://edgewire.example/',
      feed_url: 'https://edgewire.example/feed.json',
      language: 'en',
      authors: [{ name: 'Edgewire', url: 'https://edgewire.example/' }],
    })
    expect(json.author).toBeUndefined()
    const [item] = json.items
    expect(item).toMatchObject({
      id: ids[0],
      date_published: '2025-05-16T14:05:00Z',
      date_modified: '2025-05-17T08:30:00Z',
      authors: [{ name: 'Olena Kovalenko' }],
      external_url: 'https://wire.example/stories/istanbul-talks',
    })
    expect(item.author).toBeUndefined()
    expect(parseJsonFeed(buildJsonFeed(siteInput())).items).toHaveLength(4)
  })

  it('renders an article shared by several documents as each would alone, whatever their settings', () => {
    // The builder renders each article object once per URL and byte budget: a document built
    // after others from the same objects must match one built from fresh copies.
    const fresh = () => structuredClone(pinnedArticles)
    const small = { maxBytes: 3_000 }
    const shared = [
      buildRss(siteInput(pinnedArticles)),
      buildAtom(siteInput(pinnedArticles, small)),
      buildJsonFeed(
        siteInput(pinnedArticles, {
          ...small,
          site: { ...pinnedSite, siteUrl: 'https://other.example' },
        }),
      ),
      buildRss(themeInput),
    ]
    const alone = [
      buildRss(siteInput(fresh())),
      buildAtom(siteInput(fresh(), small)),
      buildJsonFeed(
        siteInput(fresh(), { ...small, site: { ...pinnedSite, siteUrl: 'https://other.example' } }),
      ),
      buildRss({ ...themeInput, articles: structuredClone(themeInput.articles) }),
    ]
    expect(shared).toEqual(alone)
    // The small budget took effect, and the other site's links are its own.
    expect((shared[1] as string).length).toBeLessThan(buildAtom(siteInput()).length)
    expect(shared[2]).toContain('https://other.example/')
    expect(shared[2]).not.toContain(pinnedSite.siteUrl)
  })

  it('stops at maxItems, keeping the newest', () => {
    const docs = buildFeeds(siteInput(pinnedArticles, { maxItems: 2 }))
    expect(parseRssFeed(docs.rss).items?.map((i) => i.guid?.value)).toEqual(ids.slice(0, 2))
    expect(parseAtomFeed(docs.atom).entries).toHaveLength(2)
    expect(JSON.parse(docs.json).items).toHaveLength(2)
  })

  it('marks RFC 5005 archive documents and links the previous archive and the current feed', () => {
    const archive = siteInput(pinnedArticles.slice(2), {
      paths: {
        ...themeInput.paths,
        rss: '/archive/2025-05/feed.xml',
        atom: '/archive/2025-05/atom.xml',
        json: '/archive/2025-05/feed.json',
      },
      archive: {
        isArchive: true,
        prevArchive: {
          rss: '/archive/2025-04/feed.xml',
          atom: '/archive/2025-04/atom.xml',
          json: '/archive/2025-04/feed.json',
        },
        current: { rss: '/feed.xml', atom: '/atom.xml', json: '/feed.json' },
      },
    })
    const docs = buildFeeds(archive)
    const fh = 'http://purl.org/syndication/history/1.0'
    const rss = parseXml(docs.rss).rss
    expect(rss['@_xmlns:fh']).toBe(fh)
    expect(rss.channel['fh:archive']).toBe('')
    expect(parseRssFeed(docs.rss).atom?.links).toEqual([
      {
        href: 'https://edgewire.example/archive/2025-05/feed.xml',
        rel: 'self',
        type: 'application/rss+xml',
      },
      { href: 'https://hub.example/websub', rel: 'hub' },
      { href: 'https://edgewire.example/archive/2025-04/feed.xml', rel: 'prev-archive' },
      { href: 'https://edgewire.example/feed.xml', rel: 'current' },
    ])
    const atom = parseXml(docs.atom).feed
    expect(atom['@_xmlns:fh']).toBe(fh)
    expect(atom['fh:archive']).toBe('')
    const links = Object.fromEntries(
      (atom.link as Record<string, string>[]).map((l) => [l['@_rel'], l['@_href']]),
    )
    expect(links['prev-archive']).toBe('https://edgewire.example/archive/2025-04/atom.xml')
    expect(links.current).toBe('https://edgewire.example/atom.xml')
    expect(links.self).toBe('https://edgewire.example/archive/2025-05/atom.xml')
    expect(JSON.parse(docs.json).next_url).toBe(
      'https://edgewire.example/archive/2025-04/feed.json',
    )
    // A current document carries no archive marker.
    const current = buildFeeds(siteInput())
    expect(current.rss).not.toContain('fh:archive')
    expect(current.atom).not.toContain('fh:archive')
    expect(current.json).not.toContain('next_url')
  })
})
