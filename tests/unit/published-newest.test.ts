import { describe, expect, it } from 'vitest'
import { publishedNewest } from '../../src/jobs/build-lists'
import { byNewest } from '../../src/model/story-order'

// A seeded generator, so a failure reproduces.
function random(seed: number): () => number {
  let s = seed
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return s / 2 ** 32
  }
}

describe('publishedNewest', () => {
  it('orders as byNewest does, ties by slug, and leaves out stories after now', () => {
    const next = random(7)
    const base = Date.parse('2025-05-01T00:00:00Z')
    const entries = Array.from({ length: 2000 }, (_, i) => {
      // Few distinct minutes, so many stories share a time; some in the future; mixed widths.
      const t = new Date(base + Math.floor(next() * 300) * 60_000).toISOString()
      const publishedAt = i % 3 === 0 ? t.replace('.000Z', 'Z') : t
      return { slug: `story-${Math.floor(next() * 1e6)}-${i}`, publishedAt }
    })
    const now = new Date(base + 200 * 60_000).toISOString()
    const expected = entries
      .filter((e) => Date.parse(e.publishedAt) <= Date.parse(now))
      .sort(byNewest)
    const later: typeof entries = []
    const got = publishedNewest(entries, now, later)
    expect(got.length).toBeLessThan(entries.length)
    expect(got.map((e) => e.slug)).toEqual(expected.map((e) => e.slug))
    // The rest, under embargo at `now`, in the order given.
    expect(later).toEqual(entries.filter((e) => Date.parse(e.publishedAt) > Date.parse(now)))
  })

  it('orders dates with milliseconds as byNewest does too', () => {
    const next = random(11)
    const base = Date.parse('2025-05-01T00:00:00Z')
    const entries = Array.from({ length: 2000 }, (_, i) => {
      const t = base + Math.floor(next() * 300) * 60_000 + (i % 5 === 0 ? i % 997 : 0)
      return {
        slug: `story-${Math.floor(next() * 1e6)}-${i}`,
        publishedAt: new Date(t).toISOString(),
      }
    })
    const now = new Date(base + 200 * 60_000).toISOString()
    const expected = entries
      .filter((e) => Date.parse(e.publishedAt) <= Date.parse(now))
      .sort(byNewest)
    expect(publishedNewest(entries, now).map((e) => e.slug)).toEqual(expected.map((e) => e.slug))
  })
})
