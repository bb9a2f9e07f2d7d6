// The page frame every HTML response shares: head, site header with theme navigation, footer.
import { raw } from 'hono/html'
import type { Child } from 'hono/jsx'
import type { SiteConfig } from '../config'
import type { ThemeIndex } from '../storage/indexes'
import { JsonLd, type SocialMeta, SocialTags } from './page-meta'
import { STYLESHEET_PATH } from './stylesheet'

/** Feed links a page advertises with `<link rel="alternate">` (site-relative paths). */
export interface FeedLinks {
  title: string
  rss: string
  atom: string
  json: string
}

export interface LayoutProps {
  site: SiteConfig
  title: string
  description?: string
  /** site-relative path of this page's canonical URL */
  path?: string
  feeds?: FeedLinks
  themes?: ThemeIndex | null
  /** OpenGraph/Twitter fields; pages with a canonical path get website defaults */
  social?: SocialMeta
  /** schema.org data emitted as JSON-LD */
  structuredData?: unknown
  /** site-relative paths of the neighbouring pages of a paginated list */
  prevPath?: string
  nextPath?: string
  children?: Child
}

const SITE_FEEDS = (site: SiteConfig): FeedLinks => ({
  title: site.name,
  rss: '/feed.xml',
  atom: '/atom.xml',
  json: '/feed.json',
})

/** The whole HTML document around a page's main content. */
export function Layout(props: LayoutProps) {
  const { site, title, description, path, feeds, themes, children } = props
  const alternates = feeds ?? SITE_FEEDS(site)
  const abs = (p: string) => `${site.siteUrl}${p}`
  const social: SocialMeta | undefined =
    props.social ??
    (path !== undefined
      ? { type: 'website', url: abs(path), title, description: description ?? site.description }
      : undefined)
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang={site.language}>
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{title === site.name ? title : `${title} · ${site.name}`}</title>
          <meta name="description" content={description ?? site.description} />
          {path !== undefined && <link rel="canonical" href={abs(path)} />}
          {props.prevPath !== undefined && <link rel="prev" href={abs(props.prevPath)} />}
          {props.nextPath !== undefined && <link rel="next" href={abs(props.nextPath)} />}
          <link rel="stylesheet" href={STYLESHEET_PATH} />
          <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
          <link
            rel="alternate"
            type="application/rss+xml"
            title={`${alternates.title} (RSS)`}
            href={abs(alternates.rss)}
          />
          <link
            rel="alternate"
            type="application/atom+xml"
            title={`${alternates.title} (Atom)`}
            href={abs(alternates.atom)}
          />
          <link
            rel="alternate"
            type="application/feed+json"
            title={`${alternates.title} (JSON Feed)`}
            href={abs(alternates.json)}
          />
          {social && <SocialTags site={site} meta={social} />}
          {props.structuredData !== undefined && <JsonLd data={props.structuredData} />}
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="site">
            <a class="brand" href="/">
              {site.name}
            </a>
            <p>{site.description}</p>
            {themes && themes.themes.length > 0 && (
              <nav class="themes" aria-label="Themes">
                <ul>
                  {themes.themes.map((t) => (
                    <li>
                      <a href={`/themes/${t.slug}`}>{t.name}</a>
                    </li>
                  ))}
                </ul>
              </nav>
            )}
          </header>
          <main id="main">{children}</main>
          <footer class="site">
            <p>
              {site.name} · {site.copyright} · <a href="/feeds">Feeds: follow in a reader</a>
            </p>
            {site.followLinks.length > 0 && (
              <nav aria-label="Follow us">
                <ul>
                  {site.followLinks.map((l) => (
                    <li>
                      <a href={l.url}>{l.label}</a>
                    </li>
                  ))}
                </ul>
              </nav>
            )}
          </footer>
        </body>
      </html>
    </>
  )
}
