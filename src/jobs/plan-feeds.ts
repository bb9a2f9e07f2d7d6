// Pure: which feed documents the site should have at `now`, and a hash of what each is built
// from, so the job re-renders only the feeds whose content changed (D1, issue: feeds).
// Subscription feeds hold the newest items; RFC 5005 archives are fixed monthly buckets of the
// months before the current one, linked by prev-archive.
import { buildFeeds, type FeedPaths, type FeedScope, type FeedSite } from '../feeds/build-feeds'
import type { Article } from '../model/article'
import { contentHash } from '../storage/content-hash'
import type { CatalogEntry } from '../storage/job-state'
import { keys } from '../storage/keys'
import { groupPublished, monthOf, type PublishedGroups, type ThemeGroup } from './build-lists'

/** Bump when the rendering code changes, so every stored document is rendered again. */
export const FEED_FORMAT_VERSION = 1

/** A set of documents rendered together from the same articles. */
export interface DocumentGroup {
  /** every path this group writes, with its media type */
  documents: Array<{ path: string; type: string }>
  /** hash of everything the documents are built from (worked out when first read) */
  readonly src: string
  /**
   * The story-list keys whose stories this group is built from: a tick that rebuilds none of
   * them need not hash it (empty: always compared).
   */
  tags: string[]
  cacheControl: string
  /** the articles (by slug, in order) the render needs */
  readonly slugs: string[]
  /** subscription documents are pinged to the WebSub hub when they change */
  subscription: boolean
  render: (articles: ReadonlyMap<string, Article>) => Map<string, string>
}

const TYPES = {
  rss: 'application/rss+xml; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
  json: 'application/feed+json; charset=utf-8',
} as const

export interface FeedPlanOptions {
  maxItems: number
  /** max-age of subscription feeds: the cron cadence */
  cacheSeconds: number
}

/** The three feed paths under a base (`''` for the site, `/themes/x` for a theme). */
export function feedPaths(base: string, html: string): FeedPaths {
  return { html, rss: `${base}/feed.xml`, atom: `${base}/atom.xml`, json: `${base}/feed.json` }
}

const archiveBase = (base: string, month: string) => `${base}/archive/${month.replace('-', '/')}`

function group(
  site: FeedSite,
  scope: FeedScope,
  paths: FeedPaths,
  entries: CatalogEntry[],
  archive: { isArchive: boolean; prevArchive?: FeedPaths; current?: FeedPaths },
  maxItems: number,
  cacheControl: string,
  tags: string[],
): DocumentGroup {
  // An archive holds its month's every story: its items are copied only when the group is
  // compared or rendered (a 100k site plans about 1,350 groups; a tick compares a few dozen).
  let items: CatalogEntry[] | undefined
  const itemsOf = () => {
    items ??= entries.slice(0, maxItems)
    return items
  }
  let src: string | undefined
  return {
    get src() {
      src ??= contentHash(
        JSON.stringify([
          FEED_FORMAT_VERSION,
          site,
          scope,
          paths,
          archive,
          maxItems,
          itemsOf().map((e) => [e.slug, e.hash]),
        ]),
      )
      return src
    },
    tags,
    documents: [
      { path: paths.rss, type: TYPES.rss },
      { path: paths.atom, type: TYPES.atom },
      { path: paths.json, type: TYPES.json },
    ],
    cacheControl,
    get slugs() {
      return itemsOf().map((e) => e.slug)
    },
    subscription: !archive.isArchive,
    render(articles) {
      const list = itemsOf()
        .map((e) => articles.get(e.slug))
        .filter((a): a is Article => a !== undefined)
      const docs = buildFeeds({
        site,
        scope,
        articles: list,
        paths,
        archive: {
          isArchive: archive.isArchive,
          ...(archive.prevArchive ? { prevArchive: archive.prevArchive } : {}),
          ...(archive.current ? { current: archive.current } : {}),
        },
        maxItems,
      })
      return new Map([
        [paths.rss, docs.rss],
        [paths.atom, docs.atom],
        [paths.json, docs.json],
      ])
    },
  }
}

/** One logical feed (site or theme) with its monthly archives; `byMonth` groups `entries`. */
function feedFamily(
  site: FeedSite,
  scope: FeedScope,
  base: string,
  html: string,
  entries: CatalogEntry[],
  now: string,
  opts: FeedPlanOptions,
  byMonth: ReadonlyMap<string, CatalogEntry[]>,
): DocumentGroup[] {
  const current = monthOf(now)
  const months = [...byMonth.keys()]
    .filter((m) => m < current)
    .sort()
    .reverse()
  const subscription = feedPaths(base, html)
  // The site has month archive pages; a theme's archive feeds link back to the theme page.
  const archivePaths = (m: string) =>
    feedPaths(archiveBase(base, m), scope.kind === 'site' ? archiveBase('', m) : html)
  const live = `public, max-age=${opts.cacheSeconds}`
  const groups = [
    group(
      site,
      scope,
      subscription,
      entries,
      { isArchive: false, ...(months[0] ? { prevArchive: archivePaths(months[0]) } : {}) },
      opts.maxItems,
      live,
      [scope.kind === 'site' ? keys.latest : keys.theme(scope.theme.slug)],
    ),
  ]
  months.forEach((month, i) => {
    const prev = months[i + 1]
    groups.push(
      group(
        site,
        scope,
        archivePaths(month),
        byMonth.get(month) ?? [],
        {
          isArchive: true,
          current: subscription,
          ...(prev ? { prevArchive: archivePaths(prev) } : {}),
        },
        Number.MAX_SAFE_INTEGER,
        // Archives change only when an old story is edited or removed.
        'public, max-age=2592000',
        // A change to a story of the month rebuilds that month's list, whatever its themes: a
        // theme's archive of the month is compared then. Its links and title depend on the
        // theme's archive months and name too, which archiveShape covers.
        [keys.month(month)],
      ),
    )
  })
  return groups
}

/**
 * What the archive feeds depend on besides their own month's stories: each theme's name and
 * archive months (the prev-archive links and the theme named in each). A tick compares a theme's
 * archive of a month only when that month's story list is rebuilt, unless this changed since the
 * last tick. Tagged with its theme's list instead, every archive of every theme a tick touched was
 * compared: with all 40 themes of the 100k bench site touched, 1,321 of its 1,353 feed groups,
 * hashed in 103 to 139 ms in Node, against 41 groups and 4 ms now.
 * The site's archive months need no part here: the story lists are rebuilt whole when they change.
 */
export function archiveShape(now: string, grouped: PublishedGroups): string {
  const current = monthOf(now)
  const shape: unknown[] = []
  for (const slug of [...grouped.byTheme.keys()].sort()) {
    const { theme, byMonth } = grouped.byTheme.get(slug) as ThemeGroup
    shape.push(
      slug,
      theme.name,
      [...byMonth.keys()].filter((m) => m < current),
    )
  }
  return contentHash(JSON.stringify(shape))
}

/**
 * Every feed document group for the published entries (newest first): the site feed and one
 * feed per theme, each with its monthly archives. `grouped` is groupPublished of the same
 * entries when the caller has it already.
 */
export function planFeeds(
  published: CatalogEntry[],
  site: FeedSite,
  now: string,
  opts: FeedPlanOptions,
  grouped: PublishedGroups = groupPublished(published),
): DocumentGroup[] {
  const groups = feedFamily(site, { kind: 'site' }, '', '/', published, now, opts, grouped.byMonth)
  const themes = grouped.byTheme
  for (const slug of [...themes.keys()].sort()) {
    const { theme, entries, byMonth } = themes.get(slug) as ThemeGroup
    const base = `/themes/${slug}`
    groups.push(
      ...feedFamily(site, { kind: 'theme', theme }, base, base, entries, now, opts, byMonth),
    )
  }
  return groups
}
