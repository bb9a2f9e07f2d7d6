// JSON Feed 1.1, written here rather than by the `feed` package, which only speaks 1.0
// (`author` instead of `authors`, no `language`, no `hubs`, no attachments).
import type { FeedEntry, FeedHead } from './feed-document'
import { utf8Length } from './xml-text'

/** Bytes an item's HTML costs in JSON: the escaped string body. */
export function jsonContentCost(html: string): number {
  return utf8Length(JSON.stringify(html)) - 2
}

function item(head: FeedHead, entry: FeedEntry) {
  const image = entry.image
  return {
    id: entry.id,
    url: entry.url,
    ...(entry.sourceUrl ? { external_url: entry.sourceUrl } : {}),
    title: entry.title,
    content_html: entry.contentHtml,
    summary: entry.summary,
    ...(image ? { image: image.url } : {}),
    date_published: entry.publishedAt,
    date_modified: entry.updatedAt,
    ...(entry.author ? { authors: [{ name: entry.author }] } : {}),
    ...(entry.themes.length ? { tags: entry.themes.map((t) => t.name) } : {}),
    language: head.language,
    ...(image
      ? {
          attachments: [
            {
              url: image.url,
              mime_type: image.type,
              size_in_bytes: image.length,
              ...(image.alt ? { title: image.alt } : {}),
            },
          ],
        }
      : {}),
  }
}

/** Writes a JSON Feed 1.1 document. */
export function writeJsonFeed(head: FeedHead, entries: FeedEntry[]): string {
  const feed = {
    version: 'https://jsonfeed.org/version/1.1',
    title: head.title,
    home_page_url: head.homeUrl,
    feed_url: head.selfUrl,
    description: head.description,
    language: head.language,
    authors: [{ name: head.publisher, url: head.siteUrl }],
    ...(head.hubUrl ? { hubs: [{ type: 'WebSub', url: head.hubUrl }] } : {}),
    // Archives page backwards: the previous archive holds the next, older items.
    ...(head.prevArchiveUrl ? { next_url: head.prevArchiveUrl } : {}),
    items: entries.map((entry) => item(head, entry)),
  }
  return JSON.stringify(feed, null, 2)
}
