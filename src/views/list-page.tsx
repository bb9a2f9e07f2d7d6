// Home, theme and archive pages: one list of stories, newest first, with a pager.
import type { SiteConfig } from '../config'
import type { ListItem, ThemeIndex } from '../storage/indexes'
import { formatDate } from './format-date'
import { type FeedLinks, Layout } from './layout'
import { webSiteData } from './page-meta'

export interface ListPageProps {
  site: SiteConfig
  heading: string
  /** site-relative path of page 1; later pages append `/page/N` */
  basePath: string
  page: number
  pageCount: number
  items: ListItem[]
  months: string[]
  themes?: ThemeIndex | null
  feeds?: FeedLinks
  /** the home page's heading is visually the site name */
  intro?: string
  /** home and theme pages describe the site as schema.org `WebSite` */
  describeSite?: boolean
}

const pagePath = (base: string, n: number) =>
  n === 1 ? base || '/' : `${base === '/' ? '' : base}/page/${n}`

function monthLabel(month: string): string {
  const [y, m] = month.split('-')
  const names = [
    'January',
    'February',
    'March',
    'April',
    'May',
    'June',
    'July',
    'August',
    'September',
    'October',
    'November',
    'December',
  ]
  return `${names[Number(m) - 1] ?? m} ${y}`
}

/** A paginated story list. */
export function ListPage(props: ListPageProps) {
  const { site, heading, basePath, page, pageCount, items, months, themes, feeds, intro } = props
  const title = page > 1 ? `${heading} (page ${page})` : heading
  return (
    <Layout
      site={site}
      title={title}
      path={pagePath(basePath, page)}
      themes={themes}
      {...(page > 1 ? { prevPath: pagePath(basePath, page - 1) } : {})}
      {...(page < pageCount ? { nextPath: pagePath(basePath, page + 1) } : {})}
      {...(props.describeSite ? { structuredData: webSiteData(site) } : {})}
      {...(feeds ? { feeds } : {})}
    >
      <h1 dir="auto">{title}</h1>
      {intro && <p>{intro}</p>}
      {items.length === 0 ? (
        <p>No stories yet.</p>
      ) : (
        <ol class="stories">
          {items.map((item) => (
            <li>
              <time datetime={item.publishedAt}>{formatDate(item.publishedAt, site.timeZone)}</time>
              <h2 dir="auto">
                <a href={`/articles/${item.slug}`}>{item.title}</a>
              </h2>
              <p dir="auto">{item.summary}</p>
            </li>
          ))}
        </ol>
      )}
      {pageCount > 1 && (
        <nav class="pager" aria-label="Pages">
          {page > 1 ? (
            <a href={pagePath(basePath, page - 1)} rel="prev">
              Newer stories
            </a>
          ) : (
            <span />
          )}
          {page < pageCount ? (
            <a href={pagePath(basePath, page + 1)} rel="next">
              Older stories
            </a>
          ) : (
            <span />
          )}
        </nav>
      )}
      {months.length > 0 && (
        <nav class="archive" aria-label="Archive">
          <h2>Archive</h2>
          <p>
            {months.map((m) => (
              <>
                <a href={`/archive/${m.replace('-', '/')}`}>{monthLabel(m)}</a>{' '}
              </>
            ))}
          </p>
        </nav>
      )}
    </Layout>
  )
}
