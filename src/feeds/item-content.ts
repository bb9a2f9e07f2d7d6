// The HTML body of a feed item: the article's Markdown rendered with absolute URLs, or, when the
// document is over its byte budget, a prefix of it cut at a safe boundary plus a "Read more" link.
import { renderMarkdown } from '../markdown/render-markdown'
import { escapeHtml } from './xml-text'

/** Measures what an HTML string costs once written into a given feed format, in bytes. */
export type ContentCost = (html: string) => number

/** The paragraph that ends a truncated item, linking to the full article. */
export function readMoreHtml(articleUrl: string): string {
  return `<p><a href="${escapeHtml(articleUrl)}">Read more</a></p>\n`
}

/** Renders a full article body; relative links and images resolve against the article URL. */
export function renderBody(markdown: string, articleUrl: string): string {
  return renderMarkdown(markdown, { baseUrl: articleUrl })
}

/**
 * Cuts Markdown to at most `limit` UTF-16 units, preferring a blank line, then a line break, then
 * a space, in the last half of the window; never inside a surrogate pair. markdown-it closes
 * whatever the cut leaves open (lists, fences, emphasis), so the rendered HTML stays balanced.
 */
export function cutMarkdown(markdown: string, limit: number): string {
  if (markdown.length <= limit) return markdown
  if (limit <= 0) return ''
  const window = markdown.slice(0, limit)
  const floor = Math.floor(limit / 2)
  const boundaries = [
    window.lastIndexOf('\n\n'),
    window.lastIndexOf('\n'),
    Math.max(window.lastIndexOf(' '), window.lastIndexOf('\t')),
  ]
  for (const at of boundaries) {
    if (at >= floor) return window.slice(0, at).trimEnd()
  }
  const code = window.charCodeAt(limit - 1)
  const end = code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit
  return window.slice(0, end).trimEnd()
}

/**
 * Returns the body rendered from the longest Markdown prefix whose HTML, with the Read more
 * paragraph, costs at most `budget`; just the Read more paragraph when nothing fits.
 */
export function truncatedBody(
  markdown: string,
  articleUrl: string,
  budget: number,
  cost: ContentCost,
  fullCost: number,
): string {
  const more = readMoreHtml(articleUrl)
  const room = budget - cost(more)
  if (room <= 0) return more
  // Start from the body's own HTML-per-character ratio, then shrink until it fits.
  let limit = Math.floor((markdown.length * room) / Math.max(fullCost, 1))
  for (let attempt = 0; attempt < 12 && limit > 0; attempt++) {
    const html = renderBody(cutMarkdown(markdown, limit), articleUrl)
    const spent = cost(html)
    if (spent <= room) return html + more
    limit = Math.min(limit - 1, Math.floor((limit * room * 0.95) / spent))
  }
  return more
}
