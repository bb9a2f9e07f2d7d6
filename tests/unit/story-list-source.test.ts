import { describe, expect, it } from 'vitest'
import {
  buildLists,
  groupPublished,
  publishedNewest,
  storedSummaries,
} from '../../src/jobs/build-lists'
import { ContentHasher, contentHash } from '../../src/storage/content-hash'
import { encodeValue, type StoryList } from '../../src/storage/indexes'
import type { CatalogEntry } from '../../src/storage/job-state'
import { keys } from '../../src/storage/keys'

const NOW = '2025-06-01T00:00:00Z'

function entry(slug: string, publishedAt: string, hash: string, theme = 'politics'): CatalogEntry {
  return {
    slug,
    title: `Title of ${slug}`,
    publishedAt,
    updatedAt: publishedAt,
    themes: [{ slug: theme, name: 'Politics' }],
    hash,
    relatedHash: '',
  }
}

describe('story list sources', () => {
  it('hash JSON [total, months, extra, shown] as stored lists name it, escapes included', () => {
    // Hashes as a damaged catalog might hold them: a quote, a backslash, a control character,
    // a lone surrogate. The source must still be the hash of the JSON text, so lists written
    // before it was streamed are recognised.
    const hashes = ['0123456789abcdef', 'a"b', 'c\\d', 'e\u0001f', 'g\ud800h', '']
    const catalog = hashes.map((hash, i) =>
      entry(`story-${i}`, `2025-05-${String(10 + i).padStart(2, '0')}T08:00:00Z`, hash),
    )
    const published = publishedNewest(catalog, NOW)
    const lists = buildLists(published, () => 'summary', { latest: 4, theme: 10 })
    const latest = lists.get(keys.latest) as StoryList
    const shown = published.slice(0, 4).map((e) => `${e.slug} ${e.hash}`)
    expect(latest.source).toBe(
      contentHash(JSON.stringify([published.length, ['2025-05'], {}, shown])),
    )
    const theme = lists.get(keys.theme('politics')) as StoryList
    const extra = { theme: { slug: 'politics', name: 'Politics' } }
    const all = published.map((e) => `${e.slug} ${e.hash}`)
    expect(theme.source).toBe(
      contentHash(JSON.stringify([published.length, ['2025-05'], extra, all])),
    )
    // Read back, the stored bytes prove their summaries; another story version does not.
    const hashOf = (slug: string) => catalog.find((e) => e.slug === slug)?.hash
    expect(storedSummaries(encodeValue(latest), hashOf)?.size).toBe(4)
    expect(storedSummaries(encodeValue(latest), (s) => `${hashOf(s)}x`)).toBeNull()
  })

  it('names a month archive by its month and the months of the site', () => {
    const catalog = [
      entry('a', '2025-04-30T23:00:00Z', '1'),
      entry('b', '2025-05-01T01:00:00Z', '2'),
    ]
    const published = publishedNewest(catalog, NOW)
    const month = buildLists(published, () => '', undefined, undefined, groupPublished(published))
    const april = month.get(keys.month('2025-04')) as StoryList
    expect(april.source).toBe(
      contentHash(JSON.stringify([1, ['2025-05', '2025-04'], { month: '2025-04' }, ['a 1']])),
    )
  })

  it('hashes a stored list without months as JSON.stringify writes it: null', () => {
    const source = contentHash(JSON.stringify([1, null, { month: '2025-05' }, ['a 1']]))
    const bytes = JSON.stringify({
      version: 1,
      source,
      total: 1,
      items: [{ slug: 'a', summary: 'Lede of a' }],
      month: '2025-05',
    })
    expect(storedSummaries(bytes, () => '1')).toEqual(new Map([['a', 'Lede of a']]))
  })

  it('hashes text in pieces as contentHash hashes it whole', () => {
    const text = 'ab"c\u00e9\ud83d\ude00 x'
    const pieces = new ContentHasher().add('ab"').add('').add('c\u00e9\ud83d').add('\ude00 x')
    expect(pieces.digest()).toBe(contentHash(text))
    expect(contentHash(text)).not.toBe(contentHash(`${text} `))
  })
})
