// The format-neutral feed document: input cleaned of non-XML code points, URLs made absolute,
// ids and dates settled once, so the RSS, Atom and JSON writers cannot disagree.
import type { Article, Theme } from '../model/article'
import type { ArchivePath, FeedDocumentInput, FeedFormat, FeedScope, FeedSite } from './feed-input'
import { escapeHtml, stripNonXml } from './xml-text'

/** Feed-level fields, already cleaned and absolute. */
export interface FeedHead {
  id: string
  title: string
  description: string
  language: string
  copyright: string
  /** Who the feed is by when an entry names no author (Atom requires one). */
  publisher: string
  siteUrl: string
  homeUrl: string
  selfUrl: string
  hubUrl?: string
  isArchive: boolean
  prevArchiveUrl?: string
  currentUrl?: string
  /** RFC 3339 UTC: the newest `updatedAt` among the entries. */
  updated: string
  /** Category scheme whose terms are theme slugs: scheme + term is the theme page. */
  themeScheme: string
}

/** One item, cleaned; `contentHtml` is the full or truncated body. */
export interface FeedEntry {
  id: string
  url: string
  title: string
  summary: string
  author?: string
  themes: Theme[]
  publishedAt: string
  updatedAt: string
  image?: { url: string; type: string; length: number; alt: string }
  sourceUrl?: string
  contentHtml: string
}

// RFC 4151 taggingEntity: a DNS name or email, a comma, then a year, month or day.
const TAGGING_ENTITY =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|[^\s@,]+@[a-z0-9.-]+),(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/i

function taggingEntity(site: FeedSite): RegExpMatchArray {
  const match = site.feedIdAuthority.match(TAGGING_ENTITY)
  if (!match)
    throw new Error(`feedIdAuthority is not an RFC 4151 tagging entity: ${site.feedIdAuthority}`)
  return match
}

/** The permanent id of an article in every feed format: `tag:<authority>:article:<id>`. */
export function feedItemId(site: FeedSite, article: Pick<Article, 'id'>): string {
  taggingEntity(site)
  return `tag:${site.feedIdAuthority}:article:${article.id}`
}

/** The permanent id of a logical feed: `tag:<authority>:site` or `tag:<authority>:theme:<slug>`. */
export function feedId(site: FeedSite, scope: FeedScope): string {
  taggingEntity(site)
  const local = scope.kind === 'site' ? 'site' : `theme:${scope.theme.slug}`
  return `tag:${site.feedIdAuthority}:${local}`
}

/** The date in the tagging entity (e.g. `2025` is 2025-01-01): an empty feed's fixed `updated`. */
function authorityDate(site: FeedSite): string {
  const [, year, month = '01', day = '01'] = taggingEntity(site)
  return `${year}-${month}-${day}T00:00:00Z`
}

/** Absolute URL of an article page; also the base for its relative links. */
export function articleUrl(siteUrl: string, slug: string): string {
  return `${siteUrl}/articles/${slug}`
}

// Concatenated, not resolved, so a site living under a path prefix keeps it.
function absolute(site: FeedSite, path: string): string {
  return new URL(`${site.siteUrl}${path.startsWith('/') ? '' : '/'}${path}`).href
}

function archiveUrl(site: FeedSite, path: ArchivePath | undefined, format: FeedFormat) {
  if (path === undefined) return undefined
  return absolute(site, typeof path === 'string' ? path : path[format])
}

/** The article's fields with every code point XML forbids removed. */
export function cleanArticle(article: Article): Article {
  const clean = stripNonXml
  return {
    ...article,
    title: clean(article.title),
    ...(article.subtitle === undefined ? {} : { subtitle: clean(article.subtitle) }),
    summary: clean(article.summary),
    body: clean(article.body),
    themes: article.themes.map((t) => ({ slug: t.slug, name: clean(t.name) })),
    ...(article.author === undefined ? {} : { author: clean(article.author) }),
    ...(article.image === undefined
      ? {}
      : {
          image: { ...article.image, url: clean(article.image.url), alt: clean(article.image.alt) },
        }),
    ...(article.sourceUrl === undefined ? {} : { sourceUrl: clean(article.sourceUrl) }),
  }
}

/** A cleaned article as an entry carrying the given body HTML. */
export function toEntry(site: FeedSite, article: Article, contentHtml: string): FeedEntry {
  const image = article.image
  return {
    id: feedItemId(site, article),
    url: new URL(articleUrl(site.siteUrl, article.slug)).href,
    title: article.title,
    summary: article.summary,
    ...(article.author ? { author: article.author } : {}),
    themes: article.themes,
    publishedAt: article.publishedAt,
    updatedAt: article.updatedAt,
    ...(image
      ? {
          image: {
            url: new URL(image.url).href,
            type: image.type,
            length: image.length,
            alt: image.alt,
          },
        }
      : {}),
    ...(article.sourceUrl ? { sourceUrl: new URL(article.sourceUrl).href } : {}),
    // An empty body still gives readers something to show: the summary.
    contentHtml: contentHtml || `<p>${escapeHtml(article.summary)}</p>\n`,
  }
}

/** The newest `updatedAt` of the entries, or the authority's date for an empty feed. */
function newestUpdate(site: FeedSite, entries: FeedEntry[]): string {
  let newest: string | undefined
  for (const entry of entries) {
    if (newest === undefined || Date.parse(entry.updatedAt) > Date.parse(newest))
      newest = entry.updatedAt
  }
  return newest ?? authorityDate(site)
}

/** The feed-level fields of one document in one format. */
export function toHead(
  input: FeedDocumentInput,
  format: FeedFormat,
  entries: FeedEntry[],
): FeedHead {
  const { site, scope, paths, archive } = input
  const clean = stripNonXml
  const themed = scope.kind === 'theme' ? clean(scope.theme.name) : undefined
  const title = clean(site.title)
  const prevArchiveUrl = archiveUrl(site, archive?.prevArchive, format)
  const currentUrl = archiveUrl(site, archive?.current, format)
  return {
    id: feedId(site, scope),
    title: themed ? `${title}: ${themed}` : title,
    description: themed ? `${title} coverage of ${themed}` : clean(site.description),
    language: clean(site.language),
    copyright: clean(site.copyright),
    publisher: title,
    siteUrl: absolute(site, '/'),
    homeUrl: absolute(site, paths.html),
    selfUrl: absolute(site, paths[format]),
    ...(site.hub ? { hubUrl: new URL(site.hub).href } : {}),
    isArchive: archive?.isArchive ?? false,
    ...(prevArchiveUrl ? { prevArchiveUrl } : {}),
    ...(currentUrl ? { currentUrl } : {}),
    updated: newestUpdate(site, entries),
    themeScheme: absolute(site, '/themes/'),
  }
}
