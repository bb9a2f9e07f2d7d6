// The stored related index built in slices must be the one a full build stores: every document
// ranks the same stories in the same order, with scores equal but for the order a document's
// norm is summed in, documents added since the build included.
import { describe, expect, it } from 'vitest'
import { mergeCost } from '../../src/jobs/build-related.ts'
import {
  assembleIndex,
  type BaseMeta,
  decodeDocs,
  extractRare,
  unpack,
} from '../../src/related/base-index.ts'
import {
  buildIndex,
  type DocVector,
  rankRelated,
  termHashes,
  updateIndex,
  vectorize,
} from '../../src/related/index.ts'
import {
  buildAllSlices,
  buildShape,
  groupMerger,
  groupShare,
  sliceShard,
} from '../../src/related/sliced-build.ts'
import { CONFIG, NO_RARE, toBuffer, world } from '../fixtures/related-world.ts'

// Uneven shards, as a hash placement gives them, one of them empty.
function shardsOf(vectors: DocVector[], count: number): DocVector[][] {
  const shards: DocVector[][] = Array.from({ length: count }, () => [])
  vectors.forEach((v, i) => {
    shards[(i * 7 + (i % 3)) % (count - 1)]?.push(v)
  })
  return shards
}

async function sliced(vectors: DocVector[], parts: number, shardCount = 5) {
  const hashes = new Map(vectors.map((v) => [v.slug, `h-${v.slug}`]))
  const base = buildAllSlices('gen1', shardsOf(vectors, shardCount), hashes, CONFIG, 'cfg', parts)
  const meta = JSON.parse(JSON.stringify(base.meta)) as BaseMeta
  const docs = decodeDocs(meta, base.chunks.map(toBuffer))
  const readPart = async (p: number) => toBuffer(base.parts[p] as Uint8Array)
  const readRare = async (p: number) => toBuffer(base.rare[p] as Uint8Array)
  return { base, meta, docs, readPart, readRare }
}

function expectSameRanking(a: ReturnType<typeof rankRelated>, b: ReturnType<typeof rankRelated>) {
  expect(a.length).toBeGreaterThan(0)
  expect(b.map((r) => r.slug)).toEqual(a.map((r) => r.slug))
  b.forEach((r, i) => {
    expect(Math.abs(r.score - (a[i] as { score: number }).score)).toBeLessThan(1e-6)
  })
}

describe('the related index built in slices', () => {
  it('keeps every document: hash, day, themes and sketch, under its own slug', async () => {
    const vectors = world(60).map((d) => vectorize(d, CONFIG))
    const full = buildIndex(vectors, CONFIG)
    const { meta, docs } = await sliced(vectors, 4)
    expect(meta.n).toBe(60)
    expect([...docs.slugs].sort()).toEqual([...full.slugs].sort())
    expect(meta.avgLength).toBeCloseTo(full.avgLength, 9)
    expect(meta.maxDf).toBe(full.maxDf)
    for (const slug of full.slugs) {
      const a = full.position.get(slug) as number
      const b = docs.position.get(slug) as number
      expect(docs.hashes[b]).toBe(`h-${slug}`)
      expect(docs.days[b]).toBe(full.days[a])
      expect(meta.themeLists[docs.themeIds[b] as number]).toEqual(
        full.themeLists[full.themeIds[a] as number],
      )
      expect(
        Array.from(docs.sketchData.subarray(docs.sketchStart[b], docs.sketchStart[b + 1])),
      ).toEqual(Array.from(full.sketchData.subarray(full.sketchStart[a], full.sketchStart[a + 1])))
    }
  })

  // The build's last tick weighs the stories it carries with the table it joined, unread.
  it('hands over the document table its chunks hold, as decoding them gives it', async () => {
    const vectors = world(60).map((d) => vectorize(d, CONFIG))
    const { base, docs } = await sliced(vectors, 4)
    expect(base.docs.slugs).toEqual(docs.slugs)
    expect(base.docs.hashes).toEqual(docs.hashes)
    expect([...base.docs.position]).toEqual([...docs.position])
    expect(base.docs.themeIds.constructor).toBe(docs.themeIds.constructor)
    for (const key of ['days', 'themeIds', 'sketchStart', 'sketchData', 'scales'] as const) {
      expect(Array.from(base.docs[key]), key).toEqual(Array.from(docs[key]))
    }
  })

  for (const parts of [1, 8, 32]) {
    it(`ranks every document as a full build does (${parts} parts)`, async () => {
      const vectors = world(90).map((d) => vectorize(d, CONFIG))
      const full = buildIndex(vectors, CONFIG)
      const { meta, docs, readPart } = await sliced(vectors, parts)
      const small = await assembleIndex(meta, docs, CONFIG, {
        queries: new Set(docs.slugs.map((_, d) => d)),
        terms: [],
        rare: NO_RARE,
        readPart,
      })
      for (const slug of full.slugs)
        expectSameRanking(rankRelated(full, slug), rankRelated(small, slug))
    })
  }

  it('ranks documents added and removed since the build as the updated full index does', async () => {
    const vectors = world(80).map((d) => vectorize(d, CONFIG))
    const full = buildIndex(vectors, CONFIG)
    const { meta, docs, readPart, readRare } = await sliced(vectors, 4, 3)
    const added = world(5, 80, 'only7 only8 only51').map((d) => vectorize(d, CONFIG))
    const terms = added.flatMap((v) => termHashes(v.t))
    const rare = await extractRare(meta, docs, terms, readRare)
    expect(rare.hashes.length).toBeGreaterThan(0)
    const queries = new Set([docs.position.get('doc-007') as number])
    const small = await assembleIndex(meta, docs, CONFIG, { queries, terms, rare, readPart })
    updateIndex(full, added, ['doc-020'])
    updateIndex(small, added, ['doc-020'])
    for (const slug of [...added.map((v) => v.slug), 'doc-007']) {
      const want = rankRelated(full, slug)
      expectSameRanking(want, rankRelated(small, slug))
      expect(want.some((r) => r.slug === 'doc-020')).toBe(false)
    }
  })

  // A tick takes as many merges as fit its budget, each costed by its group's triples: groups
  // of equal hash ranges differ (a vector keeps its lowest hashes past maxTerms).
  it('counts the triples of each group, and costs a merge by its share of them', () => {
    const vectors = world(60).map((d) => vectorize(d, CONFIG))
    const hashes = new Map(vectors.map((v) => [v.slug, `h-${v.slug}`]))
    const shape = buildShape('gen1', 60, 8)
    const slices = shardsOf(vectors, 3).map((docs, s) => sliceShard(shape, s, docs, hashes))
    let terms = 0
    for (const v of vectors) terms += termHashes(v.t).length
    let counted = 0
    for (const slice of slices) {
      expect(slice.triples).toHaveLength(shape.groups)
      slice.triples.forEach((count, g) => {
        const { sections } = unpack(slice.runs[g] as Uint8Array)
        expect((sections[1] as Uint32Array).length).toBe(count)
        counted += count
      })
    }
    expect(counted).toBe(terms)
    const infos = slices.map(({ count, length, tag, triples }) => ({ count, length, tag, triples }))
    const shares = Array.from({ length: shape.groups }, (_, g) =>
      groupShare(infos, g, shape.groups),
    )
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    const ofGroup = (g: number) => slices.reduce((sum, x) => sum + (x.triples[g] as number), 0)
    for (let g = 0; g < shape.groups; g++) expect(shares[g]).toBeCloseTo(ofGroup(g) / terms, 12)
    expect(new Set(shares.map((x) => x.toFixed(6))).size).toBeGreaterThan(1)
    const total = Array.from({ length: shape.groups }, (_, g) => mergeCost(infos, g, shape.groups))
    // Half the documents' worth in all, to within rounding up each group.
    expect(total.reduce((a, b) => a + b, 0) - 30).toBeGreaterThanOrEqual(0)
    expect(total.reduce((a, b) => a + b, 0) - 30).toBeLessThanOrEqual(shape.groups)
    // A cursor from before the counts were kept: equal shares.
    const old = infos.map(({ count, length, tag }) => ({ count, length, tag }))
    expect(groupShare(old, 0, shape.groups)).toBe(1 / shape.groups)
  })

  it('refuses a run sliced for another build or from another version of its shard', () => {
    const vectors = world(30).map((d) => vectorize(d, CONFIG))
    const hashes = new Map(vectors.map((v) => [v.slug, `h-${v.slug}`]))
    const shape = buildShape('gen1', 30, 2)
    const one = sliceShard(shape, 0, vectors, hashes)
    const info = [{ count: one.count, length: one.length, tag: one.tag }]
    const other = sliceShard(buildShape('gen2', 30, 2), 0, vectors, hashes)
    expect(() => groupMerger(shape, 0, info, CONFIG).add(0, other.runs[0] as Uint8Array)).toThrow(
      'another build',
    )
    // One article changed after the shard was sliced: its new slice is another version.
    const changed = sliceShard(shape, 0, vectors, new Map([...hashes, ['doc-003', 'h-new']]))
    expect(changed.tag).not.toBe(one.tag)
    expect(() => groupMerger(shape, 1, info, CONFIG).add(0, changed.runs[1] as Uint8Array)).toThrow(
      'does not match its tag',
    )
  })
})
