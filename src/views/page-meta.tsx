// What a page tells search engines and link previews: schema.org JSON-LD, OpenGraph and Twitter
// card tags. Built from the same article and settings the page shows, so they always agree.
import type { SiteConfig } from '../config'
import type { Article } from '../model/article'

/** OpenGraph / Twitter card fields of one page; absolute URLs only. */
export interface SocialMeta {
  type: 'website' | 'article'
  url: string
  title: string
  description: string
  image?: { url: string; alt: string; type?: string; width?: number; height?: number }
  publishedTime?: string
  modifiedTime?: string
  section?: string
}

/**
 * JSON-LD text safe inside `<script>`: `<` becomes `\u003c`, so no `</script>` or `<!--` can
 * end or confuse the block, and the JSON still parses to the same value.
 */
export function jsonLdText(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c')
}

/** A `<script type="application/ld+json">` data block (data, never executed, so CSP allows it). */
export function JsonLd({ data }: { data: unknown }) {
  return (
    <script type="application/ld+json" dangerouslySetInnerHTML={{ __html: jsonLdText(data) }} />
  )
}

const publisher = (site: SiteConfig) => ({
  '@type': 'Organization',
  name: site.name,
  url: `${site.siteUrl}/`,
  logo: { '@type': 'ImageObject', url: site.logoUrl },
})

/** When the article last changed: an embargoed story written early changed when it was released. */
export function modifiedAt(article: Article): string {
  return Date.parse(article.updatedAt) > Date.parse(article.publishedAt)
    ? article.updatedAt
    : article.publishedAt
}

/** schema.org `NewsArticle` for an article page. */
export function newsArticleData(site: SiteConfig, article: Article, canonical: string) {
  const image = article.image
  return {
    '@context': 'https://schema.org',
    '@type': 'NewsArticle',
    mainEntityOfPage: { '@type': 'WebPage', '@id': canonical },
    url: canonical,
    headline: article.title,
    description: article.summary,
    inLanguage: site.language,
    datePublished: article.publishedAt,
    dateModified: modifiedAt(article),
    author: article.author
      ? [{ '@type': 'Person', name: article.author }]
      : [{ '@type': 'Organization', name: site.name, url: `${site.siteUrl}/` }],
    ...(image
      ? {
          image: [
            {
              '@type': 'ImageObject',
              url: image.url,
              ...(image.width ? { width: image.width } : {}),
              ...(image.height ? { height: image.height } : {}),
            },
          ],
        }
      : {}),
    ...(article.themes.length > 0 ? { articleSection: article.themes.map((t) => t.name) } : {}),
    publisher: publisher(site),
  }
}

/** schema.org `WebSite` for the home and theme pages. */
export function webSiteData(site: SiteConfig) {
  return {
    '@context': 'https://schema.org',
    '@type': 'WebSite',
    name: site.name,
    url: `${site.siteUrl}/`,
    description: site.description,
    inLanguage: site.language,
    publisher: publisher(site),
  }
}

/** OpenGraph and Twitter card `<meta>` tags. */
export function SocialTags({ site, meta }: { site: SiteConfig; meta: SocialMeta }) {
  const { image } = meta
  return (
    <>
      <meta property="og:type" content={meta.type} />
      <meta property="og:site_name" content={site.name} />
      <meta property="og:url" content={meta.url} />
      <meta property="og:title" content={meta.title} />
      <meta property="og:description" content={meta.description} />
      {image && <meta property="og:image" content={image.url} />}
      {image?.type && <meta property="og:image:type" content={image.type} />}
      {image?.width && <meta property="og:image:width" content={String(image.width)} />}
      {image?.height && <meta property="og:image:height" content={String(image.height)} />}
      {image && <meta property="og:image:alt" content={image.alt} />}
      {meta.publishedTime && (
        <meta property="article:published_time" content={meta.publishedTime} />
      )}
      {meta.modifiedTime && <meta property="article:modified_time" content={meta.modifiedTime} />}
      {meta.section && <meta property="article:section" content={meta.section} />}
      <meta name="twitter:card" content={image ? 'summary_large_image' : 'summary'} />
      <meta name="twitter:title" content={meta.title} />
      <meta name="twitter:description" content={meta.description} />
      {image && <meta name="twitter:image" content={image.url} />}
      {image && <meta name="twitter:image:alt" content={image.alt} />}
    </>
  )
}
