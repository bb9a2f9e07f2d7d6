// The subscribe page: every feed the site publishes (the site and each theme, three formats
// each) with plain instructions for a reader who has never used a feed reader.
import type { SiteConfig } from '../config'
import type { ThemeIndex } from '../storage/indexes'
import { Layout } from './layout'

export interface FeedsPageProps {
  site: SiteConfig
  themes?: ThemeIndex | null
}

const FORMATS = [
  { file: 'feed.xml', name: 'RSS' },
  { file: 'atom.xml', name: 'Atom' },
  { file: 'feed.json', name: 'JSON Feed' },
] as const

/** One feed's three formats, each link naming the feed so it reads well on its own. */
function FeedLinks({ site, label, base }: { site: SiteConfig; label: string; base: string }) {
  return (
    <ul class="feed-links">
      {FORMATS.map((f) => {
        const url = `${site.siteUrl}${base}/${f.file}`
        return (
          <li>
            <a href={url}>
              <span dir="auto">{label}</span> ({f.name})
            </a>{' '}
            <code>{url}</code>
          </li>
        )
      })}
    </ul>
  )
}

/** The `/feeds` page. */
export function FeedsPage({ site, themes }: FeedsPageProps) {
  const list = themes?.themes ?? []
  return (
    <Layout
      site={site}
      title="Feeds"
      description={`Follow ${site.name} in a feed reader: the whole site or one theme, in RSS, Atom or JSON Feed.`}
      path="/feeds"
      themes={themes}
    >
      <h1>Feeds</h1>
      <p>
        Follow {site.name} in a feed reader and new stories come to you, with no account and no
        tracking. Each feed holds the newest stories; older ones stay in its monthly archives.
      </p>
      <section aria-labelledby="how">
        <h2 id="how">How to subscribe</h2>
        <ol>
          <li>
            Open your feed reader (for example NetNewsWire, Feedly, Inoreader or Thunderbird).
          </li>
          <li>Choose its “add feed” or “subscribe” command.</li>
          <li>
            Paste one of the addresses below. Most readers also accept the address of any page on
            this site and find its feed themselves.
          </li>
        </ol>
        <p>
          The three formats carry the same stories. Pick RSS if unsure: every reader supports it.
          Atom suits readers that prefer it, and JSON Feed suits apps and scripts.
        </p>
      </section>
      <section aria-labelledby="all-stories">
        <h2 id="all-stories">All stories</h2>
        <FeedLinks site={site} label="All stories" base="" />
      </section>
      {list.length > 0 && (
        <section aria-labelledby="by-theme">
          <h2 id="by-theme">By theme</h2>
          {list.map((t) => (
            <>
              <h3 dir="auto">{t.name}</h3>
              <FeedLinks site={site} label={t.name} base={`/themes/${t.slug}`} />
            </>
          ))}
        </section>
      )}
    </Layout>
  )
}
