import { describe, expect, it } from 'vitest'
import { decodeDocs, encodeBase } from '../../src/related/base-index.ts'
import {
  buildIndex,
  indexBuilder,
  insertRelated,
  listFloor,
  peersAbove,
  type RelatedIndex,
  type RelatedItem,
  type RelatedSource,
  rankRelated,
  updateIndex,
  vectorize,
} from '../../src/related/index.ts'
import { isCopy, scoreCandidates } from '../../src/related/rank-related.ts'

// A small world of stories told several times over, with shared filler words, so candidate lists
// are long enough for the recency cut-off to leave documents out.
const FILLER = 'report officials said people city government week year news local national'.split(
  ' ',
)
function world(count: number): RelatedSource[] {
  const docs: RelatedSource[] = []
  for (let i = 0; i < count; i++) {
    const story = Math.floor(i / 4)
    const words = Array.from(
      { length: 40 },
      (_, j) => `${FILLER[(i * 7 + j) % FILLER.length]} Name${story} place${story % 9}`,
    )
    docs.push({
      slug: `doc-${String(i).padStart(3, '0')}`,
      title: `Story ${story} about Name${story} in Place${story % 9}`,
      summary: words.slice(0, 10).join(' '),
      body: words.join(' '),
      themes: [`theme-${story % 3}`],
      publishedAt: `2024-0${1 + (i % 9)}-1${i % 10}T12:00:00Z`,
    })
  }
  return docs
}

describe('indexBuilder()', () => {
  it('ranks exactly as buildIndex(), whatever order the vectors stream in', () => {
    const vectors = world(60).map((doc) => vectorize(doc))
    const built = buildIndex(vectors)
    const builder = indexBuilder()
    for (const v of [...vectors].reverse()) builder.add(v)
    const streamed = builder.finish()
    for (const v of vectors) {
      expect(rankRelated(streamed, v.slug)).toEqual(rankRelated(built, v.slug))
    }
  })

  it('weighs every term the same through the idf-by-df table as through the per-term arrays', () => {
    // Sites under 65,535 articles never reach the per-term path: force it for some terms, or all.
    const vectors = world(60).map((doc) => vectorize(doc))
    const build = (smallDf?: number) => {
      const builder = indexBuilder(undefined, smallDf)
      for (const v of vectors) builder.add(v)
      return builder.finish()
    }
    const table = build()
    for (const smallDf of [1, 3, 20]) {
      const index = build(smallDf)
      expect(index.maxDf).toBe(table.maxDf)
      expect(index.fShared).toEqual(table.fShared)
      expect(index.fTerm).toEqual(table.fTerm)
      expect(index.fWeight).toEqual(table.fWeight)
      expect(index.idf).toEqual(table.idf)
      expect(index.iPost).toEqual(table.iPost)
      for (const v of vectors)
        expect(rankRelated(index, v.slug)).toEqual(rankRelated(table, v.slug))
    }
    // The forced path was taken: terms in 20 or more of the 60 documents exist.
    expect(Math.max(...table.df)).toBeGreaterThanOrEqual(20)
  })

  it('rejects a slug added twice', () => {
    const [v] = world(1).map((doc) => vectorize(doc))
    const builder = indexBuilder()
    builder.add(v as never)
    expect(() => builder.add(v as never)).toThrow('duplicate slug')
  })
})

describe('rankRelated()', () => {
  it('returns the same list as ranking every candidate (the recency cut-off is exact)', () => {
    const vectors = world(80).map((doc) => vectorize(doc))
    const index = buildIndex(vectors)
    const cfg = index.config
    for (const v of vectors) {
      const q = index.position.get(v.slug) as number
      const all = scoreCandidates(index, q, cfg)
      const scoreOf = new Map(all.docs.map((d, i) => [d, all.scores[i] as number]))
      const ranked = rankRelated(index, v.slug)
      expect(ranked).toHaveLength(cfg.limit)
      const kept = ranked.map((r) => index.position.get(r.slug) as number)
      for (const [i, d] of kept.entries()) expect(ranked[i]?.score).toBe(scoreOf.get(d))
      const last = (ranked.at(-1) as { score: number }).score
      // Anything scoring higher and left out must be a copy of the source or of a kept story.
      for (const [d, score] of scoreOf) {
        if (kept.includes(d) || score <= last) continue
        expect(isCopy(index, q, d, cfg) || kept.some((k) => isCopy(index, k, d, cfg))).toBe(true)
      }
    }
  })
})

describe('peersAbove()', () => {
  it('finds every list an added story enters, from the lists floors alone', () => {
    const docs = world(41)
    const vectors = docs.map((doc) => vectorize(doc))
    const before = buildIndex(vectors.slice(0, 40))
    const floors = new Map(
      vectors.slice(0, 40).map((v) => [v.slug, listFloor(rankRelated(before, v.slug))]),
    )
    const lists = new Map(vectors.slice(0, 40).map((v) => [v.slug, rankRelated(before, v.slug)]))
    const added = vectors[40] as (typeof vectors)[number]
    updateIndex(before, [added])
    const found = new Set(peersAbove(before, [added.slug], (slug) => floors.get(slug)))
    for (const v of vectors.slice(0, 40)) {
      const now = rankRelated(before, v.slug).map((r) => r.slug)
      if (now.includes(added.slug)) expect(found.has(v.slug), v.slug).toBe(true)
      if (!found.has(v.slug)) expect(now).toEqual(lists.get(v.slug)?.map((r) => r.slug))
    }
  })
})

describe('peersAbove() with a floor bound', () => {
  it('finds the same peers, looking up only the floors of open lists and candidates above it', () => {
    const vectors = world(61).map((doc) => vectorize(doc))
    const index = buildIndex(vectors.slice(0, 60))
    const floors = new Map<string, number | undefined>(
      vectors.slice(0, 60).map((v) => [v.slug, listFloor(rankRelated(index, v.slug))]),
    )
    // Two lists with no known floor: any candidate enters them, however low it scores.
    const unknown = [vectors[3]?.slug, vectors[17]?.slug] as string[]
    for (const slug of unknown) floors.set(slug, undefined)
    const known = [...floors.values()].filter((f): f is number => Number.isFinite(f))
    const bound = {
      lowest: Math.min(...known),
      open: [...floors].filter(([, f]) => !Number.isFinite(f)).map(([slug]) => slug),
    }
    const added = vectors[60] as (typeof vectors)[number]
    updateIndex(index, [added])
    const looked: string[] = []
    const floorOf = (slug: string) => {
      looked.push(slug)
      return floors.get(slug)
    }
    const plain = peersAbove(index, [added.slug], floorOf, 0.05)
    const everyLookup = looked.splice(0).length
    const bounded = peersAbove(index, [added.slug], floorOf, 0.05, undefined, undefined, bound)
    expect(bounded).toEqual(plain)
    for (const slug of unknown) expect(bounded).toContain(slug)
    // The bound spared lookups: candidates below every known floor are no list's peer.
    expect(looked.length).toBeLessThan(everyLookup)
    expect(looked).toEqual(expect.arrayContaining(unknown))
  })
})

describe('insertRelated()', () => {
  // Base lists as stored (scores rounded), then stories added to the index: the entrants of each
  // list and their scores, as the refresh job finds them.
  function added(count: number, extra: RelatedSource[] = []) {
    const docs = world(count)
    const vectors = docs.map((doc) => vectorize(doc))
    const index = buildIndex(vectors)
    const stored = new Map(
      vectors.map((v) => [
        v.slug,
        rankRelated(index, v.slug).map((r) => ({ ...r, score: Number(r.score.toPrecision(8)) })),
      ]),
    )
    const newcomers = extra.map((doc) => vectorize(doc))
    updateIndex(index, newcomers)
    const entering = new Map<string, RelatedItem[]>()
    peersAbove(
      index,
      newcomers.map((v) => v.slug),
      (slug) => (stored.has(slug) ? listFloor(stored.get(slug) ?? []) : undefined),
      0,
      undefined,
      (peer, x, score) => {
        const list = entering.get(peer) ?? []
        list.push({ slug: index.slugs[x] as string, score })
        entering.set(peer, list)
      },
    )
    return { index, stored, entering }
  }

  it('places added stories where ranking the list again puts them', () => {
    const later = world(52).slice(40)
    const { index, stored, entering } = added(40, later)
    let placed = 0
    let changed = 0
    for (const [slug, list] of entering) {
      if (!stored.has(slug)) continue
      const result = insertRelated(index, slug, stored.get(slug) ?? [], list)
      if (!result) continue
      placed++
      const again = rankRelated(index, slug)
      expect(
        result.map((r) => r.slug),
        slug,
      ).toEqual(again.map((r) => r.slug))
      for (const [i, r] of result.entries()) {
        expect(r.score).toBeCloseTo(again[i]?.score as number, 6)
      }
      if (result.some((r) => !stored.get(slug)?.some((s) => s.slug === r.slug))) changed++
    }
    // The world's stories are told four times over: most lists gain a newcomer, and are placed.
    expect(placed).toBeGreaterThan(10)
    expect(changed).toBeGreaterThan(10)
  })

  it('asks for a new ranking when a newcomer copies a listed story it outranks', () => {
    const docs = world(40)
    const source = docs[0] as RelatedSource
    const { index: before, stored } = added(40)
    const list = stored.get(source.slug) ?? []
    const copied = docs.find((d) => d.slug === list[1]?.slug) as RelatedSource
    // The same text as the second story, published the same day as the source: it scores at
    // least as high, so the story it copies leaves the list.
    const copy = { ...copied, slug: 'a-copy', publishedAt: source.publishedAt }
    const { index, entering } = added(40, [copy])
    expect(before.slugs.length).toBe(40)
    const mine = entering.get(source.slug) ?? []
    expect(mine.map((m) => m.slug)).toEqual(['a-copy'])
    expect(insertRelated(index, source.slug, list, mine)).toBeNull()
    const again = rankRelated(index, source.slug).map((r) => r.slug)
    expect(again).toContain('a-copy')
    expect(again).not.toContain(copied.slug)
  })

  it('leaves a full list alone when the newcomer scores below its last story', () => {
    const { index, stored } = added(40, [world(41)[40] as RelatedSource])
    const [slug, list] = [...stored].find(([, l]) => l.length === 10) as [string, RelatedItem[]]
    const low = { slug: 'doc-040', score: (list.at(-1) as RelatedItem).score / 2 }
    expect(insertRelated(index, slug, list, [low])).toEqual(list)
  })
})

describe('theme-list numbers', () => {
  // 300 documents, each with a theme list of its own (pairs share their first theme): more lists
  // than one byte can number, the case ranking must not wrap.
  const sources = world(300).map((doc, i) => ({
    ...doc,
    themes: [`pair-${Math.floor(i / 2)}`, `side-${i}`],
    publishedAt: '2024-03-01T12:00:00Z',
  }))
  const vectors = sources.map((doc) => vectorize(doc))
  const themesOf = new Map(sources.map((s) => [s.slug, s.themes]))

  const unthemed = vectors.map((v) => ({ ...v, themes: [] }))

  // Every candidate's score is its score without themes plus the boost for the themes the two
  // documents share (same day everywhere, so recency leaves both alone).
  // `plain`: the same index, built and updated alike, of the vectors without their themes.
  function expectThemeBoosts(index: RelatedIndex, plain: RelatedIndex) {
    const cfg = index.config
    for (const slug of index.slugs) {
      const q = index.position.get(slug) as number
      const text = scoreCandidates(plain, plain.position.get(slug) as number, cfg)
      const textOf = new Map(text.docs.map((d, i) => [plain.slugs[d], text.scores[i] as number]))
      const all = scoreCandidates(index, q, cfg)
      expect(all.docs).toHaveLength(text.docs.length)
      all.docs.forEach((d, i) => {
        const peer = index.slugs[d] as string
        const a = themesOf.get(slug) as string[]
        const b = themesOf.get(peer) as string[]
        const shared = a.filter((t) => b.includes(t)).length / Math.max(a.length, b.length)
        expect(all.scores[i]).toBeCloseTo(
          (textOf.get(peer) as number) + cfg.themeBoost * shared,
          12,
        )
      })
    }
  }

  it('are wide enough for every list, built at once', () => {
    const index = buildIndex(vectors)
    expect(index.themeLists).toHaveLength(300)
    expect(index.themeIds).toBeInstanceOf(Uint16Array)
    expectThemeBoosts(index, buildIndex(unthemed))
  })

  it('widen when stories added since the build bring lists past 256', () => {
    const index = buildIndex(vectors.slice(0, 200))
    expect(index.themeIds).toBeInstanceOf(Uint8Array)
    updateIndex(index, vectors.slice(200))
    expect(index.themeLists).toHaveLength(300)
    expectThemeBoosts(index, updateIndex(buildIndex(unthemed.slice(0, 200)), unthemed.slice(200)))
  })

  it('read back from the stored table the same, and a number past the lists is refused', () => {
    const index = buildIndex(vectors)
    const base = encodeBase(index, new Map(), 'gen1', 'cfg', 2)
    const chunks = base.chunks.map((c) => c.slice().buffer)
    expect(Array.from(decodeDocs(base.meta, chunks).themeIds)).toEqual(Array.from(index.themeIds))
    const fewer = { ...base.meta, themeLists: base.meta.themeLists.slice(0, 256) }
    expect(() => decodeDocs(fewer, chunks)).toThrow('unknown theme list')
  })
})
