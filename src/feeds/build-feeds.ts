// Builds the RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents of one logical feed. Pure: the bytes
// depend only on the input (no clock, no storage), so a refresh job can compare them to decide
// whether to write.
import type { Article } from '../model/article'
import {
  articleUrl,
  cleanArticle,
  type FeedEntry,
  type FeedHead,
  toEntry,
  toHead,
} from './feed-document'
import type { FeedDocumentInput, FeedFormat } from './feed-input'
import {
  type ContentCost,
  cutMarkdown,
  readMoreHtml,
  renderBody,
  truncatedBody,
} from './item-content'
import { atomContentCost, writeAtom } from './write-atom'
import { jsonContentCost, writeJsonFeed } from './write-json-feed'
import { rssContentCost, writeRss } from './write-rss'
import { utf8Length } from './xml-text'

export { feedId, feedItemId } from './feed-document'
export type {
  ArchivePath,
  FeedArchive,
  FeedDocumentInput,
  FeedFormat,
  FeedPaths,
  FeedScope,
  FeedSite,
} from './feed-input'

/** Items per document when the input sets no `maxItems`. */
export const DEFAULT_MAX_ITEMS = 50
/** UTF-8 bytes per document (before gzip) when the input sets no `maxBytes`. */
export const DEFAULT_MAX_BYTES = 2_000_000
/** A truncated item keeps at least this many bytes of body, else older items are dropped. */
const MIN_CONTENT_BYTES = 1_024
/**
 * A body of one byte in every format (not empty: an item without a body shows its summary), for
 * a document's size without its bodies.
 */
const PLACEHOLDER_BODY = 'x'

interface Writer {
  write: (head: FeedHead, entries: FeedEntry[]) => string
  cost: ContentCost
}

const WRITERS: Record<FeedFormat, Writer> = {
  rss: { write: writeRss, cost: rssContentCost },
  atom: { write: writeAtom, cost: atomContentCost },
  json: { write: writeJsonFeed, cost: jsonContentCost },
}

/** Builds the RSS 2.0 document. */
export function buildRss(input: FeedDocumentInput): string {
  return buildFeed(prepare(input), 'rss')
}

/** Builds the Atom 1.0 document. */
export function buildAtom(input: FeedDocumentInput): string {
  return buildFeed(prepare(input), 'atom')
}

/** Builds the JSON Feed 1.1 document. */
export function buildJsonFeed(input: FeedDocumentInput): string {
  return buildFeed(prepare(input), 'json')
}

/** Builds all three documents, rendering each article's Markdown once instead of three times. */
export function buildFeeds(input: FeedDocumentInput): Record<FeedFormat, string> {
  const prepared = prepare(input)
  return {
    rss: buildFeed(prepared, 'rss'),
    atom: buildFeed(prepared, 'atom'),
    json: buildFeed(prepared, 'json'),
  }
}

interface Prepared {
  input: FeedDocumentInput
  maxBytes: number
  articles: Article[]
  urls: string[]
  bodies: string[]
}

/** One article as every format of every document shows it (at a given maxBytes and URL). */
interface PreparedItem {
  article: Article
  body: string
}

// A tick renders one story into several documents (the site's feeds, its themes', an archive)
// from the same article object: each is cleaned and its Markdown rendered once. Keyed weakly by
// that object (articles are never mutated), so the entries go with the tick's articles.
const preparedItems = new WeakMap<Article, Map<string, PreparedItem>>()

function prepareItem(source: Article, maxBytes: number, url: string): PreparedItem {
  const key = `${maxBytes} ${url}`
  let byKey = preparedItems.get(source)
  const hit = byKey?.get(key)
  if (hit) return hit
  const cleaned = cleanArticle(source)
  // A body longer than the whole document can never be sent whole: skip rendering the rest.
  const precut = cleaned.body.length > maxBytes
  const article = precut ? { ...cleaned, body: cutMarkdown(cleaned.body, maxBytes) } : cleaned
  const html = renderBody(article.body, url)
  const item = { article, body: precut ? html + readMoreHtml(url) : html }
  if (!byKey) {
    byKey = new Map()
    preparedItems.set(source, byKey)
  }
  byKey.set(key, item)
  return item
}

/** Cleans the listed articles and renders their bodies, shared by every format. */
function prepare(input: FeedDocumentInput): Prepared {
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_BYTES
  const maxItems = Math.max(0, input.maxItems ?? DEFAULT_MAX_ITEMS)
  const listed = input.articles.slice(0, maxItems)
  const urls = listed.map((a) => articleUrl(input.site.siteUrl, a.slug))
  const items = listed.map((a, i) => prepareItem(a, maxBytes, urls[i] as string))
  return {
    input,
    maxBytes,
    articles: items.map((item) => item.article),
    urls,
    bodies: items.map((item) => item.body),
  }
}

/** Builds one document in one format, within `maxItems` and `maxBytes`. */
function buildFeed(prepared: Prepared, format: FeedFormat): string {
  const { input, maxBytes, articles, urls, bodies } = prepared
  const writer = WRITERS[format]
  const render = (count: number, html: string[]) => {
    const entries = articles
      .slice(0, count)
      .map((a, i) => toEntry(input.site, a, html[i] as string))
    return writer.write(toHead(input, format, entries), entries)
  }

  let count = articles.length
  for (;;) {
    let size: number
    let costs: number[] | undefined
    // A body costs at least its length (a UTF-16 unit is at least one byte of UTF-8, and escaping
    // only adds), so bodies longer than maxBytes together cannot be sent whole.
    if (bodies.slice(0, count).reduce((n, html) => n + html.length, 0) > maxBytes) {
      // Such a document (a month's archive of a large site holds thousands of stories): its size
      // from a render with one-byte bodies, rather than a render of every full body, tens of
      // megabytes that could never be sent.
      costs = bodies.slice(0, count).map(writer.cost)
      const placeholders = costs.map(() => PLACEHOLDER_BODY)
      size = utf8Length(render(count, placeholders)) - count * writer.cost(PLACEHOLDER_BODY)
      for (const cost of costs) size += cost
    } else {
      const full = render(count, bodies)
      size = utf8Length(full)
      if (size <= maxBytes) return full
    }
    if (count === 0) {
      throw new RangeError(
        `maxBytes ${maxBytes} is below the ${size} bytes of an empty ${format} feed`,
      )
    }
    const itemCosts = costs ?? bodies.slice(0, count).map(writer.cost)
    const fitted = fitBodies(itemCosts, size, maxBytes, (cap) =>
      render(
        count,
        bodies.map((html, i) => {
          const spent = itemCosts[i] ?? 0
          if (i >= count || spent <= cap) return html
          return truncatedBody(articles[i]?.body ?? '', urls[i] as string, cap, writer.cost, spent)
        }),
      ),
    )
    if (fitted !== null) return fitted
    count = Math.min(count - 1, affordableCount(render, count, itemCosts, size, maxBytes))
  }
}

/**
 * Shrinks the largest bodies to a common cap (water-filling) until the document fits; `null`
 * when that would leave an item less than MIN_CONTENT_BYTES of body.
 */
function fitBodies(
  costs: number[],
  size: number,
  maxBytes: number,
  renderWithCap: (cap: number) => string,
): string | null {
  let budget = maxBytes - (size - costs.reduce((a, b) => a + b, 0))
  for (let attempt = 0; attempt < 6; attempt++) {
    const cap = waterLevel(costs, budget)
    if (cap < MIN_CONTENT_BYTES) return null
    const doc = renderWithCap(cap)
    const over = utf8Length(doc) - maxBytes
    if (over <= 0) return doc
    // Escaping and Read more links cost more than estimated: take the excess out and retry.
    budget -= over + 256
  }
  return null
}

/** The largest cap C with sum(min(cost, C)) <= budget; Infinity when everything fits. */
function waterLevel(costs: number[], budget: number): number {
  const sorted = [...costs].sort((a, b) => a - b)
  let spent = 0
  for (let i = 0; i < sorted.length; i++) {
    const rest = sorted.length - i
    const cost = sorted[i] as number
    if (spent + cost * rest > budget) return Math.floor((budget - spent) / rest)
    spent += cost
  }
  return Number.POSITIVE_INFINITY
}

/** How many of the newest items fit when each keeps at most MIN_CONTENT_BYTES of body. */
function affordableCount(
  render: (count: number, html: string[]) => string,
  count: number,
  costs: number[],
  size: number,
  maxBytes: number,
): number {
  const headBytes = utf8Length(render(0, []))
  const perItem = (size - headBytes - costs.reduce((a, b) => a + b, 0)) / count
  let total = headBytes
  for (let i = 0; i < count; i++) {
    total += perItem + Math.min(costs[i] ?? 0, MIN_CONTENT_BYTES)
    if (total > maxBytes) return i
  }
  return count
}
