// Pure: which sitemap documents the site should have at `now`, each with a hash of what it is
// built from, so the refresh job renders and stores them exactly like feeds (D1). Monthly url
// sets mean a publish re-renders only the current month, the pages sitemap and the index; the
// News sitemap depends on the clock: each tick recomputes its two-day window, and it re-renders
// whenever a story joins or leaves it.
import {
  type NewsEntry,
  type SitemapEntry,
  writeNewsSitemap,
  writeSitemapIndex,
  writeUrlSet,
} from '../feeds/write-sitemaps'
import { sameWidthUtc } from '../model/utc-time'
import { contentHash } from '../storage/content-hash'
import type { CatalogEntry } from '../storage/job-state'
import { keys } from '../storage/keys'
import {
  type GroupChange,
  groupPublished,
  monthOf,
  type PublishedGroups,
  publishedNewest,
} from './build-lists'
import type { DocumentGroup } from './plan-feeds'

/** Bump when the sitemap rendering changes, so every stored sitemap is rendered again. */
export const SITEMAP_FORMAT_VERSION = 1

/** Google News: only stories from the last two days, at most 1,000 per sitemap. */
export const NEWS_WINDOW_MS = 2 * 24 * 60 * 60 * 1000
export const NEWS_MAX_ENTRIES = 1000

/** sitemaps.org: at most 50,000 URLs per url set. */
const MAX_URLS = 50_000

const XML = 'application/xml; charset=utf-8'

/** The site settings sitemaps are built from. */
export interface SitemapSite {
  siteUrl: string
  name: string
  language: string
}

export interface SitemapPlanOptions {
  /** max-age of the documents that change with each publish: the cron cadence */
  cacheSeconds: number
}

/** Site paths of the sitemap documents. */
export const SITEMAP_PATHS = {
  index: '/sitemap.xml',
  news: '/news-sitemap.xml',
  pages: '/sitemaps/pages.xml',
  month: (month: string) => `/sitemaps/${month}.xml`,
} as const

/** When a story last changed for a crawler: an embargoed story written early changed on release. */
const changedAt = (e: CatalogEntry) => later(e.updatedAt, e.publishedAt)

// The newest change among entries (newest first by publication, as groupPublished's groups are);
// ties keep the first. When every update time has the width and zone of the first publication
// time, text order is time order and equal times are equal text: the newest is then the greater
// of that first publication time (the group's latest) and the greatest update time, which
// groupPublished found while grouping (`changed`). Any other mix takes the general walk.
function newest(entries: readonly CatalogEntry[], changed?: GroupChange): string | undefined {
  if (entries.length === 0) return undefined
  if (changed?.uniform) return changed.at
  let general: string | undefined
  for (const e of entries) {
    const at = changedAt(e)
    general = general === undefined ? at : later(general, at)
  }
  return general
}

// Newest first as publishedNewest orders them; the job passes them so (a check is one date
// parse per entry, a sort far more).
function newestFirst(published: CatalogEntry[], now: string): CatalogEntry[] {
  let previous = Number.POSITIVE_INFINITY
  let previousSlug = ''
  for (const e of published) {
    const t = Date.parse(e.publishedAt)
    if (!(t < previous || (t === previous && e.slug > previousSlug))) {
      return publishedNewest(published, now)
    }
    previous = t
    previousSlug = e.slug
  }
  return published
}

/**
 * The later of two RFC 3339 times, compared as instants; the first on a tie. Stored times are
 * `toISOString` forms in UTC, so two of the same width compare as text; any other pair (`15Z`
 * against `15.5Z`, which sort wrongly as text) is parsed.
 */
function later(a: string, b: string): string {
  if (a.length === b.length && sameWidthUtc(a) && sameWidthUtc(b)) return a >= b ? a : b
  return Date.parse(a) >= Date.parse(b) ? a : b
}

function single(
  path: string,
  srcParts: () => unknown[],
  cacheControl: string,
  render: () => string,
  tags: string[] = [],
): DocumentGroup {
  let src: string | undefined
  return {
    documents: [{ path, type: XML }],
    get src() {
      src ??= contentHash(JSON.stringify([SITEMAP_FORMAT_VERSION, path, ...srcParts()]))
      return src
    },
    tags,
    cacheControl,
    // Sitemaps are built from the catalog alone: no article reads.
    slugs: [],
    subscription: false,
    render: () => new Map([[path, render()]]),
  }
}

/**
 * Every sitemap document group for the published entries: the index, the pages sitemap (home
 * and themes), one url set per month of publication, and the News sitemap of the last two days.
 * `grouped` (the job's groupPublished of the same entries) also vouches that they are newest first.
 */
export function planSitemaps(
  published: CatalogEntry[],
  site: SitemapSite,
  now: string,
  opts: SitemapPlanOptions,
  grouped?: PublishedGroups,
): DocumentGroup[] {
  const abs = (p: string) => `${site.siteUrl}${p}`
  const live = `public, max-age=${opts.cacheSeconds}`
  // The job passes its groups of entries it sorted newest first; other callers are checked.
  const entries = grouped ? published : newestFirst(published, now)
  const { byMonth, byTheme, monthChanged } = grouped ?? groupPublished(entries)
  const current = monthOf(now)
  const months = [...byMonth.keys()].sort().reverse()
  const monthGroups = months.map((month) => {
    let urls: SitemapEntry[] | undefined
    // Built only when this month's sitemap is compared or rendered.
    const urlsOf = () => {
      urls ??= (byMonth.get(month) ?? []).slice(0, MAX_URLS).map((e) => ({
        loc: abs(`/articles/${e.slug}`),
        lastmod: changedAt(e),
      }))
      return urls
    }
    // Past months change only when an old story is edited or removed.
    const cache = month >= current ? live : 'public, max-age=86400'
    return single(
      SITEMAP_PATHS.month(month),
      () => [site.siteUrl, urlsOf()],
      cache,
      () => writeUrlSet(urlsOf()),
      [keys.month(month)],
    )
  })

  // Each month's newest change once: the index lists them, and the newest of them is the site's.
  const monthNewest = new Map(
    months.map((m) => [m, newest(byMonth.get(m) ?? [], monthChanged.get(m))]),
  )
  let siteNewest: string | undefined
  for (const at of monthNewest.values()) {
    if (at !== undefined) siteNewest = siteNewest === undefined ? at : later(siteNewest, at)
  }
  const pageUrls: SitemapEntry[] = [
    { loc: abs('/'), ...optional(siteNewest) },
    ...[...byTheme.keys()].sort().map((slug) => ({
      loc: abs(`/themes/${slug}`),
      ...optional(newest(byTheme.get(slug)?.entries ?? [], byTheme.get(slug)?.changed)),
    })),
  ]
  const pagesGroup = single(
    SITEMAP_PATHS.pages,
    () => [site.siteUrl, pageUrls],
    live,
    () => writeUrlSet(pageUrls),
  )

  const indexEntries: SitemapEntry[] = [
    { loc: abs(SITEMAP_PATHS.pages), ...optional(pageUrls[0]?.lastmod) },
    ...months.map((m) => ({
      loc: abs(SITEMAP_PATHS.month(m)),
      ...optional(monthNewest.get(m)),
    })),
  ]
  const indexGroup = single(
    SITEMAP_PATHS.index,
    () => [site.siteUrl, indexEntries],
    live,
    () => writeSitemapIndex(indexEntries),
  )

  const news: NewsEntry[] = newsWindow(entries, now).map((e) => ({
    loc: abs(`/articles/${e.slug}`),
    title: e.title,
    publishedAt: e.publishedAt,
  }))
  const publication = { name: site.name, language: site.language }
  // The window is re-evaluated every tick (every 15 minutes, more often than hourly), and the
  // hash covers what is in it, so a story leaving the window re-renders the sitemap while a tick
  // with nothing joining or leaving writes nothing (D4).
  const newsGroup = single(
    SITEMAP_PATHS.news,
    () => [publication, news],
    live,
    () => writeNewsSitemap(publication, news),
  )

  return [indexGroup, pagesGroup, ...monthGroups, newsGroup]
}

/** The stories the News sitemap holds at `now`, of the published ones newest first. */
function newsWindow(published: readonly CatalogEntry[], now: string): CatalogEntry[] {
  const since = Date.parse(now) - NEWS_WINDOW_MS
  const news: CatalogEntry[] = []
  // Newest first: the window is a prefix.
  for (const e of published) {
    if (news.length >= NEWS_MAX_ENTRIES || !(Date.parse(e.publishedAt) > since)) break
    news.push(e)
  }
  return news
}

/**
 * When the News sitemap planned at `now` next loses a story to time alone (its oldest leaves
 * the window), as an ISO time; null when it holds none. `published` newest first.
 */
export function newsWindowEnds(published: readonly CatalogEntry[], now: string): string | null {
  let first = Number.POSITIVE_INFINITY
  for (const e of newsWindow(published, now)) {
    first = Math.min(first, Date.parse(e.publishedAt) + NEWS_WINDOW_MS)
  }
  return Number.isFinite(first) ? new Date(first).toISOString() : null
}

function optional(lastmod: string | undefined): { lastmod?: string } {
  return lastmod ? { lastmod } : {}
}
