// An article as the seed page showed it, done right: one dateline, clean headline, and a
// More on theme list of related stories shown newest first.
import { raw } from 'hono/html'
import type { SiteConfig } from '../config'
import { renderMarkdown } from '../markdown/render-markdown'
import type { Article } from '../model/article'
import type { RelatedList, ThemeIndex } from '../storage/indexes'
import { formatDate, formatDateTime } from './format-date'
import { Layout } from './layout'
import { modifiedAt, newsArticleData } from './page-meta'

export interface ArticlePageProps {
  site: SiteConfig
  article: Article
  /** related stories to show, already chosen and ordered newest first */
  related: RelatedList['items']
  themes?: ThemeIndex | null
}

/** The article page. */
export function ArticlePage({ site, article, related, themes }: ArticlePageProps) {
  const feeds = article.themes[0]
    ? {
        title: `${site.name}: ${article.themes[0].name}`,
        rss: `/themes/${article.themes[0].slug}/feed.xml`,
        atom: `/themes/${article.themes[0].slug}/atom.xml`,
        json: `/themes/${article.themes[0].slug}/feed.json`,
      }
    : undefined
  const path = `/articles/${article.slug}`
  const canonical = `${site.siteUrl}${path}`
  const image = article.image
  return (
    <Layout
      site={site}
      title={article.title}
      description={article.summary}
      path={path}
      themes={themes}
      social={{
        type: 'article',
        url: canonical,
        title: article.title,
        description: article.summary,
        publishedTime: article.publishedAt,
        modifiedTime: modifiedAt(article),
        ...(article.themes[0] ? { section: article.themes[0].name } : {}),
        ...(image
          ? {
              image: {
                url: image.url,
                alt: image.alt,
                type: image.type,
                ...(image.width ? { width: image.width } : {}),
                ...(image.height ? { height: image.height } : {}),
              },
            }
          : {}),
      }}
      structuredData={newsArticleData(site, article, canonical)}
      {...(feeds ? { feeds } : {})}
    >
      <article>
        <h1 dir="auto">{article.title}</h1>
        {article.subtitle && (
          <p class="subtitle" dir="auto">
            {article.subtitle}
          </p>
        )}
        <p class="dateline">
          <time datetime={article.publishedAt}>
            {formatDateTime(article.publishedAt, site.timeZone)}
          </time>
          {article.author && <> · {article.author}</>}
        </p>
        {article.themes.length > 0 && (
          <p class="themes-of">
            {article.themes.map((t) => (
              <a href={`/themes/${t.slug}`} dir="auto">
                {t.name}
              </a>
            ))}
          </p>
        )}
        {article.image && (
          <figure>
            <img
              src={article.image.url}
              alt={article.image.alt}
              {...(article.image.width ? { width: article.image.width } : {})}
              {...(article.image.height ? { height: article.image.height } : {})}
            />
          </figure>
        )}
        <p class="lede" dir="auto">
          {article.summary}
        </p>
        <div class="body" dir="auto">
          {raw(renderMarkdown(article.body))}
        </div>
        {article.sourceUrl && (
          <p class="source">
            <a href={article.sourceUrl} rel="nofollow noopener">
              Original source
            </a>
          </p>
        )}
      </article>
      {related.length > 0 && (
        <section class="related" aria-labelledby="more-on-theme">
          <h2 id="more-on-theme">More on theme</h2>
          <ol class="stories">
            {related.map((r) => (
              <li>
                <time datetime={r.publishedAt}>{formatDate(r.publishedAt, site.timeZone)}</time>
                <a href={`/articles/${r.slug}`} dir="auto">
                  {r.title}
                </a>
              </li>
            ))}
          </ol>
        </section>
      )}
    </Layout>
  )
}
