// Sitemap bytes for crawlers: sitemaps.org 0.9 url sets and indexes, and Google's News sitemap.
// Pure: entries in, XML out; absolute URLs are the caller's job.
import { escapeXmlText, stripNonXml } from './xml-text'

const SITEMAP_NS = 'http://www.sitemaps.org/schemas/sitemap/0.9'
const NEWS_NS = 'http://www.google.com/schemas/sitemap-news/0.9'
const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

const text = (s: string) => escapeXmlText(stripNonXml(s))

/** One `<url>` (or `<sitemap>`): an absolute location and when it last changed (RFC 3339). */
export interface SitemapEntry {
  loc: string
  lastmod?: string
}

/** One story in a News sitemap. */
export interface NewsEntry {
  loc: string
  title: string
  publishedAt: string
}

/** The publication a News sitemap names: the site name and an ISO 639 language code. */
export interface NewsPublication {
  name: string
  language: string
}

const lastmod = (e: SitemapEntry) => (e.lastmod ? `<lastmod>${text(e.lastmod)}</lastmod>` : '')

/** A `<urlset>` of pages. */
export function writeUrlSet(entries: SitemapEntry[]): string {
  const urls = entries.map((e) => `<url><loc>${text(e.loc)}</loc>${lastmod(e)}</url>\n`)
  return `${HEAD}<urlset xmlns="${SITEMAP_NS}">\n${urls.join('')}</urlset>\n`
}

/** A `<sitemapindex>` pointing at other sitemaps. */
export function writeSitemapIndex(entries: SitemapEntry[]): string {
  const maps = entries.map((e) => `<sitemap><loc>${text(e.loc)}</loc>${lastmod(e)}</sitemap>\n`)
  return `${HEAD}<sitemapindex xmlns="${SITEMAP_NS}">\n${maps.join('')}</sitemapindex>\n`
}

/**
 * Google's language code for News: ISO 639 (`en`, `fr`), except Chinese, which keeps its script
 * region (`zh-cn`, `zh-tw`).
 */
export function newsLanguage(language: string): string {
  const tag = language.toLowerCase()
  if (tag === 'zh-tw' || tag === 'zh-hant' || tag.startsWith('zh-hant-')) return 'zh-tw'
  if (tag.startsWith('zh')) return 'zh-cn'
  return tag.split('-')[0] || 'en'
}

/** A News sitemap: one `<news:news>` per story, with publication, date and title. */
export function writeNewsSitemap(publication: NewsPublication, entries: NewsEntry[]): string {
  const pub = `<news:publication><news:name>${text(publication.name)}</news:name><news:language>${text(newsLanguage(publication.language))}</news:language></news:publication>`
  const urls = entries.map(
    (e) =>
      `<url><loc>${text(e.loc)}</loc><news:news>${pub}<news:publication_date>${text(e.publishedAt)}</news:publication_date><news:title>${text(e.title)}</news:title></news:news></url>\n`,
  )
  return `${HEAD}<urlset xmlns="${SITEMAP_NS}" xmlns:news="${NEWS_NS}">\n${urls.join('')}</urlset>\n`
}
