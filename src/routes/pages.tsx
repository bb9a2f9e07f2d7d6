// HTML pages: each handler reads at most two KV values through storage and renders a view.
import { Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { isPublished, isValidSlug } from '../model/article'
import { getArticleWithRelated, getStoryList, type StoryList } from '../storage/indexes'
import { keys } from '../storage/keys'
import { ArticlePage } from '../views/article-page'
import { ErrorPage } from '../views/error-page'
import { FeedsPage } from '../views/feeds-page'
import { ListPage } from '../views/list-page'
import { memoHtml, renderToString } from './html-memo'
import { methodNotAllowed } from './method-not-allowed'

export const pages = new Hono<AppEnv>()

const GET = 'GET, HEAD'

/** Page number from `/page/N` or `?page=N`; null when it is not a plain positive integer. */
function pageNumber(fromPath: string | undefined, fromQuery: string | undefined): number | null {
  const raw = fromPath ?? fromQuery ?? '1'
  if (!/^[1-9][0-9]{0,5}$/.test(raw)) return null
  return Number(raw)
}

function slice(list: StoryList, page: number, perPage: number) {
  const pageCount = Math.max(1, Math.ceil(list.items.length / perPage))
  if (page > pageCount) return null
  return { pageCount, items: list.items.slice((page - 1) * perPage, page * perPage) }
}

pages.get('/', async (c) => renderHome(c, pageNumber(undefined, c.req.query('page'))))
pages.get('/page/:n', async (c) => renderHome(c, pageNumber(c.req.param('n'), undefined)))

async function renderHome(c: import('hono').Context<AppEnv>, page: number | null) {
  if (page === null) return c.notFound()
  const site = c.get('site')
  const { list, themes } = await getStoryList(c.env.KV, keys.latest)
  const source = list ?? emptyList()
  const shown = slice(source, page, site.itemsPerPage)
  if (!shown) return c.notFound()
  const html = memoHtml(source, [themes, site], `home:${page}`, () =>
    renderToString(
      <ListPage
        site={site}
        heading="Latest stories"
        basePath="/"
        page={page}
        pageCount={shown.pageCount}
        items={shown.items}
        months={list?.months ?? []}
        themes={themes}
        describeSite
      />,
    ),
  )
  return c.html(html)
}

pages.get('/themes/:theme', (c) => renderTheme(c, pageNumber(undefined, c.req.query('page'))))
pages.get('/themes/:theme/page/:n', (c) => renderTheme(c, pageNumber(c.req.param('n'), undefined)))

async function renderTheme(c: import('hono').Context<AppEnv>, page: number | null) {
  const theme = c.req.param('theme') ?? ''
  if (page === null || !isValidSlug(theme)) return c.notFound()
  const site = c.get('site')
  const { list, themes } = await getStoryList(c.env.KV, keys.theme(theme))
  const shown = list && slice(list, page, site.itemsPerPage)
  if (!list?.theme || !shown) return c.notFound()
  const base = `/themes/${theme}`
  const themeName = list.theme.name
  const html = memoHtml(list, [themes, site], `theme:${page}`, () =>
    renderToString(
      <ListPage
        site={site}
        heading={themeName}
        basePath={base}
        page={page}
        pageCount={shown.pageCount}
        items={shown.items}
        months={list.months}
        themes={themes}
        describeSite
        feeds={{
          title: `${site.name}: ${themeName}`,
          rss: `${base}/feed.xml`,
          atom: `${base}/atom.xml`,
          json: `${base}/feed.json`,
        }}
      />,
    ),
  )
  return c.html(html)
}

pages.get('/archive/:year/:month', (c) => renderArchive(c, c.req.query('page')))
// The pager links archive pages as /page/N, like the home and theme lists.
pages.get('/archive/:year/:month/page/:n', (c) => renderArchive(c, undefined, c.req.param('n')))

async function renderArchive(
  c: import('hono').Context<AppEnv>,
  fromQuery: string | undefined,
  fromPath?: string,
) {
  const month = `${c.req.param('year')}-${c.req.param('month')}`
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) return c.notFound()
  const page = pageNumber(fromPath, fromQuery)
  const site = c.get('site')
  const { list, themes } = await getStoryList(c.env.KV, keys.month(month))
  const shown = list && page !== null && slice(list, page, site.itemsPerPage)
  if (!list || !shown || page === null) return c.notFound()
  return c.html(
    <ListPage
      site={site}
      heading={`Stories from ${new Date(`${month}-01T00:00:00Z`).toLocaleString('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' })}`}
      basePath={`/archive/${month.replace('-', '/')}`}
      page={page}
      pageCount={shown.pageCount}
      items={shown.items}
      months={list.months}
      themes={themes}
    />,
  )
}

pages.get('/feeds', async (c) => {
  const { themes } = await getStoryList(c.env.KV, keys.latest)
  return c.html(<FeedsPage site={c.get('site')} themes={themes} />)
})

pages.get('/articles/:slug', async (c) => {
  const slug = c.req.param('slug')
  if (!isValidSlug(slug)) return c.notFound()
  const { record, related, themes } = await getArticleWithRelated(c.env.KV, slug)
  const { stored } = record
  const site = c.get('site')
  if (stored.state === 'gone') {
    return c.html(<ErrorPage site={site} status={410} message="This story was removed." />, 410)
  }
  if (stored.state === 'corrupt') {
    throw new Error(`corrupt article record ${slug}: ${stored.errors[0]?.message}`)
  }
  if (stored.state === 'missing' || !isPublished(stored.article, new Date().toISOString())) {
    return c.notFound()
  }
  const { article } = stored
  const html = memoHtml(record, [related, themes, site], 'article', () =>
    renderToString(
      <ArticlePage
        site={site}
        article={article}
        related={newestFirst(related?.items ?? [], slug, site.relatedCount)}
        themes={themes}
      />,
    ),
  )
  return c.html(html)
})

/** D6: the top N by relevance, shown newest first; never the article itself, never twice. */
export function newestFirst<T extends { slug: string; publishedAt: string }>(
  items: T[],
  self: string,
  limit: number,
): T[] {
  const seen = new Set<string>([self])
  const top = items.filter((i) => !seen.has(i.slug) && seen.add(i.slug)).slice(0, limit)
  return top.sort(
    (a, b) => Date.parse(b.publishedAt) - Date.parse(a.publishedAt) || (a.slug < b.slug ? -1 : 1),
  )
}

function emptyList(): StoryList {
  return { version: 1, source: '', total: 0, items: [], months: [] }
}

for (const path of [
  '/',
  '/page/:n',
  '/themes/:theme',
  '/themes/:theme/page/:n',
  '/archive/:year/:month',
  '/archive/:year/:month/page/:n',
  '/feeds',
  '/articles/:slug',
]) {
  pages.all(path, methodNotAllowed(GET))
}
