// The stored related index: a tick that streams the stored parts and keeps only what its queries
// need must rank exactly as the full index it was cut from, documents added since included.
import { describe, expect, it } from 'vitest'
import {
  assembleIndex,
  type BaseMeta,
  decodeDocs,
  encodeBase,
  extractRare,
  partCount,
  partOf,
} from '../../src/related/base-index.ts'
import {
  buildIndex,
  peersAbove,
  type RelatedSource,
  rankRelated,
  updateIndex,
  vectorize,
} from '../../src/related/index.ts'
import { CONFIG, NO_RARE, toBuffer, world } from '../fixtures/related-world.ts'

function stored(vectors: ReturnType<typeof vectorize>[], parts: number) {
  const full = buildIndex(vectors, CONFIG)
  const hashes = new Map(vectors.map((v) => [v.slug, `h-${v.slug}`]))
  const base = encodeBase(full, hashes, 'gen1', 'cfg', parts)
  const meta = JSON.parse(JSON.stringify(base.meta)) as BaseMeta
  const docs = decodeDocs(meta, base.chunks.map(toBuffer))
  const readPart = async (p: number) => toBuffer(base.parts[p] as Uint8Array)
  const readRare = async (p: number) => toBuffer(base.rare[p] as Uint8Array)
  return { full, base, meta, docs, readPart, readRare, hashes }
}

function expectSameRanking(a: ReturnType<typeof rankRelated>, b: ReturnType<typeof rankRelated>) {
  expect(b.map((r) => r.slug)).toEqual(a.map((r) => r.slug))
  b.forEach((r, i) => {
    expect(r.score).toBeCloseTo((a[i] as { score: number }).score, 12)
  })
}

describe('the stored related index', () => {
  it('splits terms into hash ranges of a power-of-two number of parts', () => {
    expect(partCount(10)).toBe(1)
    expect(partCount(100_000)).toBe(32)
    expect(partOf(0xffffffff, 32)).toBe(31)
    expect(partOf(0x07ffffff, 32)).toBe(0)
    expect(partOf(0x12345678, 1)).toBe(0)
  })

  it('keeps every document: slugs, hashes, days, themes and sketches', () => {
    const vectors = world(50).map((d) => vectorize(d, CONFIG))
    const { full, docs } = stored(vectors, 4)
    expect(docs.slugs).toEqual(full.slugs)
    expect(docs.hashes).toEqual(full.slugs.map((s) => `h-${s}`))
    expect(docs.days).toEqual(full.days)
    expect(Array.from(docs.sketchData)).toEqual(Array.from(full.sketchData))
    expect(Array.from(docs.sketchStart)).toEqual(Array.from(full.sketchStart))
  })

  for (const parts of [1, 8]) {
    it(`ranks the queried documents as the full index does (${parts} parts)`, async () => {
      const vectors = world(80).map((d) => vectorize(d, CONFIG))
      const { full, meta, docs, readPart } = stored(vectors, parts)
      const queries = new Set([0, 3, 17, 42, 79])
      const small = await assembleIndex(meta, docs, CONFIG, {
        queries,
        terms: [],
        rare: NO_RARE,
        readPart,
      })
      // Far fewer terms than the full index: only those of the queried documents.
      expect(small.vocab.length).toBeLessThan(full.vocab.length / 2)
      for (const d of queries) {
        const slug = full.slugs[d] as string
        expectSameRanking(rankRelated(full, slug), rankRelated(small, slug))
      }
    })
  }

  // With no base document queried, as in a tick that only adds stories, no posting is scanned
  // for query terms: the added stories' own terms must still be there.
  for (const queried of [[1, 2, 30, 7], []]) {
    it(`ranks documents added and replaced since the build as the updated full index does (${queried.length} base queries)`, async () => {
      const vectors = world(80).map((d) => vectorize(d, CONFIG))
      const { full, meta, docs, readPart, readRare } = stored(vectors, 4)
      // The added stories share base stories' words of their own: only those link them.
      const added = world(6, 80, 'only7 only8 only51').map((d) => vectorize(d, CONFIG))
      const replaced = vectorize(
        { ...world(1, 10)[0], title: 'A new headline' } as RelatedSource,
        CONFIG,
      )
      const upserts = [...added, replaced]
      const terms: number[] = []
      for (const v of upserts) {
        const bytes = Buffer.from(v.t, 'base64url')
        for (let o = 0; o + 5 <= bytes.length; o += 5) terms.push(bytes.readUInt32BE(o))
      }
      const queries = new Set(queried)
      const rare = await extractRare(meta, docs, terms, readRare)
      expect(rare.hashes.length).toBeGreaterThan(0)
      const small = await assembleIndex(meta, docs, CONFIG, { queries, terms, rare, readPart })
      updateIndex(full, upserts, ['doc-020'])
      updateIndex(small, upserts, ['doc-020'])
      for (const slug of [
        ...upserts.map((v) => v.slug),
        ...queried.map((d) => full.slugs[d] as string),
      ]) {
        const want = rankRelated(full, slug)
        expect(want.length).toBeGreaterThan(0)
        expectSameRanking(want, rankRelated(small, slug))
        expect(want.some((r) => r.slug === 'doc-020')).toBe(false)
      }
      const floor = () => Number.NEGATIVE_INFINITY
      expect(peersAbove(small, [added[0]?.slug as string], floor, 0, CONFIG)).toEqual(
        peersAbove(full, [added[0]?.slug as string], floor, 0, CONFIG),
      )
    })
  }

  // A tick may assemble twice from one document table (its second pass): what the first
  // assembly's update added and removed must not reach the table or the second assembly.
  it('leaves the document table as read when an assembled index is updated', async () => {
    const vectors = world(40).map((d) => vectorize(d, CONFIG))
    const { meta, docs, readPart } = stored(vectors, 2)
    const before = new Map(docs.position)
    const added = world(2, 40).map((d) => vectorize(d, CONFIG))
    const first = await assembleIndex(meta, docs, CONFIG, {
      queries: new Set([1]),
      terms: [],
      rare: NO_RARE,
      readPart,
    })
    updateIndex(first, added, ['doc-005'])
    expect(first.position.get('doc-005')).toBeUndefined()
    expect(first.position.has('doc-005')).toBe(false)
    expect(first.position.get(added[1]?.slug as string)).toBe(41)
    expect(first.position.get('doc-006')).toBe(6)
    expect(docs.position).toEqual(before)
    const second = await assembleIndex(meta, docs, CONFIG, {
      queries: new Set([5]),
      terms: [],
      rare: NO_RARE,
      readPart,
    })
    expect(second.position.get('doc-005')).toBe(5)
    expect(second.position.has(added[0]?.slug as string)).toBe(false)
    expect(rankRelated(second, 'doc-005').length).toBeGreaterThan(0)
  })

  it('refuses a part from another build', async () => {
    const vectors = world(20).map((d) => vectorize(d, CONFIG))
    const one = stored(vectors, 2)
    const other = encodeBase(one.full, one.hashes, 'gen2', 'cfg', 2)
    const readPart = async (p: number) =>
      toBuffer((p === 1 ? other.parts[1] : one.base.parts[p]) as Uint8Array)
    await expect(
      assembleIndex(one.meta, one.docs, CONFIG, {
        queries: new Set([0]),
        terms: [],
        rare: NO_RARE,
        readPart,
      }),
    ).rejects.toThrow('does not belong')
  })
})
