// What a caller hands the feed builders. Re-exported by build-feeds.ts, the module's entry point.
import type { Article, Theme } from '../model/article'

/** Site-wide settings every feed document carries. */
export interface FeedSite {
  /** Absolute, no trailing slash, e.g. `https://edgewire.example`. */
  siteUrl: string
  title: string
  description: string
  /** A language tag, e.g. `en`. */
  language: string
  copyright: string
  /** RFC 4151 tagging entity, e.g. `edgewire.example,2025`; ids derive from it, never the URL. */
  feedIdAuthority: string
  /** WebSub hub URL. */
  hub?: string
}

/** Which logical feed a document belongs to: the whole site or one theme. */
export type FeedScope = { kind: 'site' } | { kind: 'theme'; theme: Theme }

/** Site-relative paths of one logical feed in each format, e.g. `/themes/ukraine-war/feed.xml`. */
export interface FeedPaths {
  html: string
  rss: string
  atom: string
  json: string
}

/**
 * A site-relative path of another archive document: one string used for every format, or one
 * path per format (so the JSON Feed's `next_url` can point at the previous archive's JSON).
 */
export type ArchivePath = string | Pick<FeedPaths, 'rss' | 'atom' | 'json'>

/** RFC 5005 archive links of one document. */
export interface FeedArchive {
  isArchive: boolean
  prevArchive?: ArchivePath
  current?: ArchivePath
}

/** Everything one feed document is built from; the output depends on nothing else. */
export interface FeedDocumentInput {
  site: FeedSite
  scope: FeedScope
  /** Already filtered (published, not embargoed), newest first by publishedAt, ties by slug. */
  articles: Article[]
  paths: FeedPaths
  archive?: FeedArchive
  /** Default 50. */
  maxItems?: number
  /** UTF-8 bytes before compression; default 2,000,000. */
  maxBytes?: number
}

/** The three formats a feed is served in. */
export type FeedFormat = 'rss' | 'atom' | 'json'
