// RSS 2.0 through the `feed` package, with its defects repaired: text goes through slots, the
// author is dc:creator (RSS <author> must be an email), and atom:link carries self, hub and the
// RFC 5005 links.
import { Feed } from 'feed'
import type { FeedEntry, FeedHead } from './feed-document'
import { XmlSlots } from './xml-slots'
import { cdataBody, escapeHtml, utf8Length } from './xml-text'

const RSS_ROOT = [
  '<rss version="2.0"',
  'xmlns:atom="http://www.w3.org/2005/Atom"',
  'xmlns:content="http://purl.org/rss/1.0/modules/content/"',
  'xmlns:dc="http://purl.org/dc/elements/1.1/"',
].join(' ')
const FH_NS = 'xmlns:fh="http://purl.org/syndication/history/1.0"'

/** Bytes an item's HTML costs in RSS: it is written once, in CDATA. */
export function rssContentCost(html: string): number {
  return utf8Length(cdataBody(html))
}

/** Writes an RSS 2.0 document. */
export function writeRss(head: FeedHead, entries: FeedEntry[]): string {
  const s = new XmlSlots()
  const feed = new Feed({
    title: s.text(head.title),
    description: s.text(head.description),
    link: head.homeUrl,
    language: s.text(head.language),
    ...(head.copyright ? { copyright: s.text(head.copyright) } : {}),
    updated: new Date(head.updated),
    generator: false,
    docs: 'https://www.rssboard.org/rss-specification',
    feedLinks: { rss: head.selfUrl },
  })
  const links = [
    { rel: 'self', href: head.selfUrl, type: 'application/rss+xml' },
    ...(head.hubUrl ? [{ rel: 'hub', href: head.hubUrl }] : []),
    ...(head.prevArchiveUrl ? [{ rel: 'prev-archive', href: head.prevArchiveUrl }] : []),
    ...(head.currentUrl ? [{ rel: 'current', href: head.currentUrl }] : []),
  ]
  // Replaces the package's own atom:link list in place; xml-js takes an array for repeated elements.
  feed.addExtension({
    name: 'atom:link',
    objects: links.map(({ rel, href, type }) => ({
      _attributes: { href: s.attr(href), rel, ...(type ? { type } : {}) },
    })) as unknown as Record<string, unknown>,
  })
  for (const entry of entries) {
    feed.addItem({
      // A placeholder that keeps <title> first; the extension below replaces it.
      title: 'title',
      id: s.text(entry.id),
      link: entry.url,
      date: new Date(entry.updatedAt),
      published: new Date(entry.publishedAt),
      description: s.cdata(escapeHtml(entry.summary)),
      content: s.cdata(entry.contentHtml),
      category: entry.themes.map((t) => ({
        name: s.text(t.name),
        domain: s.attr(head.themeScheme),
      })),
      ...(entry.image
        ? {
            enclosure: { url: entry.image.url, type: entry.image.type, length: entry.image.length },
          }
        : {}),
      extensions: [
        // Plain text, not the package's CDATA: gofeed cuts a title at the first split `]]>`.
        { name: 'title', objects: { _text: s.text(entry.title) } },
        ...(entry.author ? [{ name: 'dc:creator', objects: { _text: s.text(entry.author) } }] : []),
      ],
    })
  }
  let xml = s.resolve(feed.rss2())
  // One root tag with every namespace the document may use, whatever the package declared.
  xml = xml.replace(/<rss\b[^>]*>/, `${RSS_ROOT}${head.isArchive ? ` ${FH_NS}` : ''}>`)
  if (head.isArchive)
    xml = xml.replace('</lastBuildDate>', '</lastBuildDate>\n        <fh:archive/>')
  return xml
}
