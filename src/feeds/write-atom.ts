// Atom 1.0 through the `feed` package, with its defects repaired: titles as type="text" (the
// package writes type="html" CDATA, so `5 < 6` is markup to a reader), the enclosure's real MIME
// type (the package guesses it from the file extension), xml:lang, and the RFC 5005 elements.
import { Feed } from 'feed'
import type { FeedEntry, FeedHead } from './feed-document'
import { XmlSlots } from './xml-slots'
import { cdataBody, escapeHtml, escapeXmlAttr, escapeXmlText, utf8Length } from './xml-text'

const ATOM_NS = 'xmlns="http://www.w3.org/2005/Atom"'
const FH_NS = 'xmlns:fh="http://purl.org/syndication/history/1.0"'

/** Bytes an item's HTML costs in Atom: it is written once, in CDATA. */
export function atomContentCost(html: string): number {
  return utf8Length(cdataBody(html))
}

function link(rel: string, href: string, extra = ''): string {
  return `<link rel="${rel}" href="${escapeXmlAttr(href)}"${extra}/>`
}

/** Writes an Atom 1.0 document. */
export function writeAtom(head: FeedHead, entries: FeedEntry[]): string {
  const s = new XmlSlots()
  const feed = new Feed({
    id: s.text(head.id),
    title: s.text(head.title),
    updated: new Date(head.updated),
    generator: false,
    link: head.homeUrl,
    feedLinks: { atom: head.selfUrl },
    ...(head.hubUrl ? { hub: head.hubUrl } : {}),
    description: s.text(head.description),
    ...(head.copyright ? { copyright: s.text(head.copyright) } : {}),
    // RFC 4287 wants a feed author unless every entry has one.
    author: { name: s.text(head.publisher), link: head.siteUrl },
  })
  for (const entry of entries) {
    const image = entry.image
    feed.addItem({
      title: s.element(`<title type="text">${escapeXmlText(entry.title)}</title>`),
      id: entry.id,
      link: entry.url,
      date: new Date(entry.updatedAt),
      published: new Date(entry.publishedAt),
      description: s.cdata(escapeHtml(entry.summary)),
      content: s.cdata(entry.contentHtml),
      ...(entry.author ? { author: [{ name: s.text(entry.author) }] } : {}),
      category: entry.themes.map((t) => ({
        name: s.attr(t.name),
        term: s.attr(t.slug),
        scheme: head.themeScheme,
      })),
      ...(image
        ? {
            enclosure: {
              url: image.url,
              title: s.element(
                link(
                  'enclosure',
                  image.url,
                  ` type="${escapeXmlAttr(image.type)}" length="${image.length}"${
                    image.alt ? ` title="${escapeXmlAttr(image.alt)}"` : ''
                  }`,
                ),
              ),
            },
          }
        : {}),
    })
  }
  let xml = s.resolve(feed.atom1())
  const lang = head.language ? ` xml:lang="${escapeXmlAttr(head.language)}"` : ''
  const root = `<feed ${ATOM_NS}${head.isArchive ? ` ${FH_NS}` : ''}${lang}>`
  xml = xml.replace(/<feed\b[^>]*>/, root)
  const extras = [
    ...(head.prevArchiveUrl ? [link('prev-archive', head.prevArchiveUrl)] : []),
    ...(head.currentUrl ? [link('current', head.currentUrl)] : []),
    ...(head.isArchive ? ['<fh:archive/>'] : []),
  ]
  // The feed's own <updated> is the first one, ahead of every entry.
  if (extras.length)
    xml = xml.replace('</updated>', `</updated>${extras.map((e) => `\n    ${e}`).join('')}`)
  return xml
}
