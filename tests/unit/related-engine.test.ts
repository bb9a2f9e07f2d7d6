import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  affectedBy,
  buildIndex,
  evalRecordToSource,
  peersAbove,
  type RelatedItem,
  type RelatedSource,
  rankRelated,
  type ScoredQueries,
  updateIndex,
  vectorize,
} from '../../src/related/index.ts'
import { scoreCandidates } from '../../src/related/rank-related.ts'

const day = (iso: string) => `${iso}T12:00:00Z`

function article(
  slug: string,
  title: string,
  summary: string,
  body: string,
  date = '2013-09-14',
): RelatedSource {
  return { slug, title, summary, body, themes: [], publishedAt: day(date) }
}

const williams = article(
  'chargers-williams-dui',
  'Chargers lineman Jamal Williams arrested on suspicion of DUI',
  'San Diego Chargers nose tackle Jamal Williams was arrested early Wednesday on suspicion of drunk driving.',
  'Police stopped Jamal Williams on Interstate 15 near Miramar Road. The Chargers said they were aware of the arrest of Williams and would not comment further. Williams, a three-time Pro Bowl pick, was released on bail.',
  '2009-02-04',
)
const williamsOther = article(
  'williams-faces-dui-charge',
  'Jamal Williams faces DUI charge after Miramar stop',
  'Chargers defensive lineman Jamal Williams was booked on suspicion of driving under the influence.',
  'The California Highway Patrol said Williams was pulled over near Miramar Road on Interstate 15. Williams posted bail. The Chargers declined to comment on the Pro Bowl nose tackle.',
  '2009-02-05',
)
const jackson = article(
  'chargers-jackson-dui',
  'Chargers receiver Vincent Jackson arrested on suspicion of DUI',
  'San Diego Chargers wide receiver Vincent Jackson was arrested on suspicion of drunk driving.',
  'Police stopped Vincent Jackson in Pacific Beach. The Chargers said they were aware of the arrest of Jackson. Jackson was released on bail before the playoff game against the Steelers.',
  '2009-01-06',
)
const quake = article(
  'iran-quake-qeshm',
  'Earthquake shakes Qeshm island in southern Iran',
  'A magnitude 5.9 earthquake struck Qeshm island in the Gulf, killing several villagers.',
  'Rescue teams reached villages on Qeshm island after the quake destroyed homes. Iranian state television said the death toll was rising.',
  '2005-11-27',
)
const budget = article(
  'city-budget-vote',
  'City council approves budget after long debate',
  'The council voted seven to two to approve the spending plan for next year.',
  'Council members debated library hours and road repairs before the vote on the budget.',
  '2013-05-02',
)

const corpus = [williams, williamsOther, jackson, quake, budget]
const slugs = (items: RelatedItem[]) => items.map((item) => item.slug)

describe('rankRelated()', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('puts the same story from another outlet first, above a look-alike event', () => {
    const index = buildIndex(corpus.map((doc) => vectorize(doc)))
    const related = rankRelated(index, williams.slug)
    expect(related[0]?.slug).toBe(williamsOther.slug)
    const lookAlike = related.find((item) => item.slug === jackson.slug)
    expect(lookAlike === undefined || lookAlike.score < (related[0] as RelatedItem).score).toBe(
      true,
    )
  })

  it('never returns the article itself', () => {
    const index = buildIndex(corpus.map((doc) => vectorize(doc)))
    for (const doc of corpus) expect(slugs(rankRelated(index, doc.slug))).not.toContain(doc.slug)
  })

  it('returns an empty list for an unknown slug', () => {
    const index = buildIndex(corpus.map((doc) => vectorize(doc)))
    expect(rankRelated(index, 'no-such-story')).toEqual([])
  })

  it('keeps a near-identical copy from filling the list', () => {
    const wire = williams.body.repeat(2)
    const copies = [1, 2, 3, 4, 5].map((i) =>
      article(
        `wire-copy-${i}`,
        williams.title,
        williams.summary,
        `${wire} Updated at ${i} pm.`,
        '2009-02-04',
      ),
    )
    const index = buildIndex([...corpus, ...copies].map((doc) => vectorize(doc)))
    const related = slugs(rankRelated(index, williamsOther.slug, { limit: 4 }))
    // The copies and the original they copy are one story: together they take one place.
    const group = related.filter((slug) => slug.startsWith('wire-copy-') || slug === williams.slug)
    expect(group.length).toBe(1)
    expect(related.length).toBeGreaterThan(1)
  })

  it('measures recency from the source article, whatever the clock says', () => {
    const twin = (slug: string, date: string) =>
      article(
        slug,
        'Storm floods the harbour district',
        'Heavy rain flooded the harbour.',
        '',
        date,
      )
    const docs = [
      twin('storm-source', '2010-03-01'),
      twin('storm-near', '2010-03-03'),
      twin('storm-far', '2012-03-01'),
    ]
    const run = () =>
      rankRelated(
        buildIndex(
          docs.map((doc) => vectorize(doc)),
          { nearDuplicateThreshold: 2 },
        ),
        'storm-source',
      )
    vi.useFakeTimers()
    vi.setSystemTime(new Date('2010-03-02T00:00:00Z'))
    const then = run()
    vi.setSystemTime(new Date('2031-01-01T00:00:00Z'))
    const later = run()
    expect(later).toEqual(then)
    expect(slugs(then)).toEqual(['storm-near', 'storm-far'])
  })

  it('breaks score ties by slug, whatever the input order', () => {
    const same = (slug: string) =>
      article(slug, 'Harbour bridge reopens', 'The harbour bridge reopened.', '', '2011-01-01')
    const docs = [
      same('zeta-bridge'),
      same('alpha-bridge'),
      same('mid-bridge'),
      same('beta-bridge'),
    ]
    const config = { nearDuplicateThreshold: 2 }
    const forward = rankRelated(
      buildIndex(
        docs.map((doc) => vectorize(doc)),
        config,
      ),
      'mid-bridge',
    )
    const reverse = rankRelated(
      buildIndex(
        [...docs].reverse().map((doc) => vectorize(doc)),
        config,
      ),
      'mid-bridge',
    )
    expect(slugs(forward)).toEqual(['alpha-bridge', 'beta-bridge', 'zeta-bridge'])
    expect(reverse).toEqual(forward)
  })

  it('works on headline and lede alone', () => {
    const short = corpus.map((doc) => ({ ...doc, body: '' }))
    const index = buildIndex(short.map((doc) => vectorize(doc)))
    expect(rankRelated(index, williams.slug)[0]?.slug).toBe(williamsOther.slug)
  })

  it('ranks the same from vectors that went through JSON', () => {
    const vectors = corpus.map((doc) => vectorize(doc))
    const stored = JSON.parse(JSON.stringify(vectors))
    expect(rankRelated(buildIndex(stored), williams.slug)).toEqual(
      rankRelated(buildIndex(vectors), williams.slug),
    )
  })

  it('boosts stories that share a theme', () => {
    const themed = corpus.map((doc) => ({
      ...doc,
      themes: doc.slug === williams.slug || doc.slug === jackson.slug ? ['nfl'] : [],
    }))
    const plain = rankRelated(buildIndex(corpus.map((doc) => vectorize(doc))), williams.slug)
    const boosted = rankRelated(buildIndex(themed.map((doc) => vectorize(doc))), williams.slug)
    const score = (items: RelatedItem[]) =>
      items.find((item) => item.slug === jackson.slug)?.score ?? 0
    expect(score(boosted)).toBeGreaterThan(score(plain))
  })
})

describe('rankRelated() from the candidates a peer search kept', () => {
  // Twenty wire copies of one story fill the best candidates of a story like it, so its list
  // needs more of them than a peer search keeps (lists of 2 keep the best 16).
  const config = { limit: 2 }
  const wire = Array.from({ length: 20 }, (_, i) =>
    article(
      `wire-${String(i).padStart(2, '0')}`,
      williams.title,
      williams.summary,
      `${williams.body.repeat(2)} Filed at ${i} am.`,
      '2009-02-04',
    ),
  )
  const docs = [...corpus, ...wire]

  function searched() {
    const index = buildIndex(
      docs.map((doc) => vectorize(doc)),
      config,
    )
    const scored: ScoredQueries = new Map()
    const all = docs.map((doc) => doc.slug)
    peersAbove(index, all, () => undefined, 0, undefined, undefined, undefined, scored)
    return { index, scored }
  }

  it('ranks every list as scoring it again would', () => {
    const { index, scored } = searched()
    const fresh = buildIndex(
      docs.map((doc) => vectorize(doc)),
      config,
    )
    for (const doc of docs) {
      expect(rankRelated(index, doc.slug, undefined, scored)).toEqual(rankRelated(fresh, doc.slug))
    }
    // The copies used up what was kept for the other outlet's story: it was scored again.
    const other = scored.get(index.position.get(williamsOther.slug) as number)
    expect(other?.complete).toBe(false)
    expect(other?.docs.length).toBe(16)
    expect(slugs(rankRelated(index, williamsOther.slug, undefined, scored))).toHaveLength(2)
  })

  it('picks from the kept candidates rather than scoring again', () => {
    const { index, scored } = searched()
    const q = index.position.get(budget.slug) as number
    expect(scored.has(q)).toBe(true)
    // Kept candidates that say otherwise change the list: it came from them.
    const quakeDoc = index.position.get(quake.slug) as number
    scored.set(q, { docs: [quakeDoc], scores: [99], complete: true })
    expect(rankRelated(index, budget.slug, undefined, scored)).toEqual([
      { slug: quake.slug, score: 99 },
    ])
  })
})

describe('rankRelated() where copies fill the candidates pruning keeps', () => {
  // A seeded corpus of made-up words: twelve copies of one story, thirty others of every age
  // sharing some of a query's words. Ranking prunes the candidates that cannot reach the best
  // few; with the copies among those, a list reaches past them, where only an exact ranking
  // knows which story comes next.
  let seed = 1
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const vocabulary = Array.from({ length: 60 }, (_, i) => `word${i}x`)
  const words = (n: number) =>
    Array.from({ length: n }, () => vocabulary[Math.floor(random() * vocabulary.length)]).join(' ')
  const shared = words(40)
  const copied = words(40)
  const story = (slug: string, title: string, summary: string, body: string, at: Date) => ({
    slug,
    title,
    summary,
    body,
    themes: [],
    publishedAt: at.toISOString(),
  })
  const start = new Date('2020-01-01T12:00:00Z')
  const docs = [
    ...Array.from({ length: 12 }, (_, i) =>
      story(`copy-${i}`, 'Copy story', 'same', `${copied} ${shared.slice(0, 80)}`, start),
    ),
    ...Array.from({ length: 30 }, (_, i) => {
      const days = Math.floor(random() * 2000)
      const title = words(4)
      const summary = words(8)
      const body = `${words(20)} ${random() < 0.5 ? shared.slice(0, Math.floor(random() * shared.length)) : ''}`
      const at = new Date(start.getTime() + (random() < 0.5 ? 0 : days) * 86_400_000)
      return story(`other-${i}`, title, summary, body, at)
    }),
    story('query', 'Query', words(8), `${shared} ${copied}`, start),
  ]

  it('ranks every list as from all of its candidates', () => {
    for (const limit of [2, 3, 4]) {
      const index = buildIndex(
        docs.map((doc) => vectorize(doc)),
        { limit },
      )
      for (const doc of docs) {
        const q = index.position.get(doc.slug) as number
        const all = { ...scoreCandidates(index, q, index.config), complete: true }
        expect(rankRelated(index, doc.slug), `${doc.slug}, ${limit}`).toEqual(
          rankRelated(index, doc.slug, undefined, new Map([[q, all]])),
        )
      }
    }
  })
})

describe('updateIndex() and affectedBy()', () => {
  it('adds a story to the lists it enters, as a full rebuild would', () => {
    const base = [williams, jackson, quake, budget]
    // Lists of one, so every list is full and only a better story gets in.
    const index = buildIndex(
      base.map((doc) => vectorize(doc)),
      { limit: 1 },
    )
    const current = new Map(base.map((doc) => [doc.slug, rankRelated(index, doc.slug)]))
    updateIndex(index, [vectorize(williamsOther)])
    const affected = affectedBy(index, [williamsOther.slug], current)
    expect(affected).toContain(williamsOther.slug)
    expect(affected).toContain(williams.slug)
    expect(affected).not.toContain(budget.slug)
    const full = buildIndex(
      corpus.map((doc) => vectorize(doc)),
      { limit: 1 },
    )
    expect(slugs(rankRelated(index, williams.slug))[0]).toBe(
      slugs(rankRelated(full, williams.slug))[0],
    )
  })

  it('finds a story added since the build through words only one stored story had', () => {
    // In the built index every word the quake story shares with the aftershock story is in that
    // story alone: a query that skipped such words would never meet the addition.
    const index = buildIndex([quake, budget, jackson].map((doc) => vectorize(doc)))
    const aftershock = article(
      'qeshm-aftershock',
      'Aftershock rattles Qeshm island villagers',
      'Villagers on Qeshm island felt a strong aftershock a day after the earthquake.',
      'Rescue teams on Qeshm island said the aftershock damaged more homes in the villages.',
      '2005-11-28',
    )
    updateIndex(index, [vectorize(aftershock)])
    expect(slugs(rankRelated(index, quake.slug))).toContain(aftershock.slug)
    expect(slugs(rankRelated(index, aftershock.slug))).toContain(quake.slug)
  })

  it('drops a removed story from every list', () => {
    const index = buildIndex(corpus.map((doc) => vectorize(doc)))
    updateIndex(index, [], [williamsOther.slug])
    expect(slugs(rankRelated(index, williams.slug))).not.toContain(williamsOther.slug)
    expect(rankRelated(index, williamsOther.slug)).toEqual([])
  })
})

describe('evalRecordToSource()', () => {
  it('derives the slug from the id and pins missing and date-only dates at noon UTC', () => {
    const undated = evalRecordToSource({
      id: 'ecbplus-10_13ECB+',
      title: 'T',
      summary: 'S',
      body: 'B',
      published: null,
    })
    expect(undated.slug).toBe('ecbplus-10-13ecb')
    expect(undated.publishedAt).toBe('2020-01-01T12:00:00Z')
    expect(undated.themes).toEqual([])
    const dated = evalRecordToSource({
      id: '_x_',
      title: 'T',
      summary: 'S',
      body: 'B',
      published: '2008-12-15',
    })
    expect(dated.publishedAt).toBe('2008-12-15T12:00:00Z')
  })
})
