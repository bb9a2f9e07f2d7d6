// Ranking one article's related stories from the index: text cosine, themes, recency, copies.
import { type RelatedConfig, resolveConfig } from './config.ts'
import { resemblance } from './doc-vector.ts'
import { type RelatedIndex, sketchOf } from './related-index.ts'

/** One entry of a related list. */
export interface RelatedItem {
  slug: string
  score: number
}

/** Recency factor between two publication days: 1 when together, falling to the floor. */
export function recencyFactor(a: number, b: number, config: RelatedConfig): number {
  const gap = Math.abs(a - b)
  if (!Number.isFinite(gap)) return 1
  const floor = config.recencyFloor
  return floor + (1 - floor) * 2 ** (-gap / config.recencyHalfLifeDays)
}

function sharedThemes(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0
  // The index builder shares one array between documents with the same themes.
  if (a === b) return 1
  let shared = 0
  for (const theme of a) if (b.includes(theme)) shared++
  return shared / Math.max(a.length, b.length)
}

// Per-query buffers, reused across queries (ranking is synchronous): the documents a query
// touched, then the surviving candidates and their themed scores. Typed and preallocated because
// a 100k-article rebuild runs this 100k times over about 2,000 candidates each.
let touched: Uint32Array = new Uint32Array(4096)
let themed: Float64Array = new Float64Array(4096)
let bounds = new Float64Array(4096)
// Theme boost of the current query per theme-list number; `themeStamp` marks the valid ones.
let themeBoostOf = new Float64Array(64)
let themeStamp = new Uint32Array(64)
let stamp = 0
// Where each query term's postings begin and end, looked up before any is read (see below).
let spanBegin = new Uint32Array(256)
let spanEnd = new Uint32Array(256)
// Receives the sum of the postings entries read ahead of time, so no compiler drops those reads.
const readAhead = new Float64Array(1)

function growTouched(need: number) {
  const next = new Uint32Array(Math.max(need, touched.length * 2))
  next.set(touched)
  touched = next
}

/** Candidates of one document as parallel arrays of document numbers and scores. */
export interface Candidates {
  docs: number[]
  scores: number[]
  /** False when candidates that cannot reach the best `keep` were left out. */
  complete: boolean
}

/**
 * Scores every document sharing a term with `q`; the score is symmetric in the two documents.
 * With `keep`, only documents that can still reach the best `keep` scores are returned: recency
 * (the costly part) damps a score by at most `recencyFloor`, so a document whose undamped score
 * is below the keep-th best damped lower bound cannot get there.
 */
export function scoreCandidates(
  index: RelatedIndex,
  q: number,
  cfg: RelatedConfig,
  keep = 0,
): Candidates {
  if (index.scratch.length < index.slugs.length) {
    index.scratch = new Float64Array(index.slugs.length * 2)
  }
  const acc = index.scratch
  const { iStart, iPost, iPostWeight, df, maxDf } = index
  const vocabSize = index.vocab.length
  const hasAdded = index.addedPostings.size > 0
  let count = 0
  const added = index.added.get(q)
  // Its vector lacks the terms the index was not asked for: its scores would be wrong.
  if (added?.candidateOnly)
    throw new Error(`related: ${index.slugs[q]} was added as a candidate only, not a query`)
  const qTerms = added ? added.terms : index.fTerm
  const qWeights = added ? added.weights : index.fWeight
  const from = added ? 0 : (index.fStart[q] as number)
  // With documents added since the build, a term of q alone may be theirs too: read every term.
  const to = added
    ? added.terms.length
    : ((hasAdded ? index.fStart[q + 1] : index.fShared[q]) as number)
  // Every term's postings are looked up first, then the first entry of each is read: loads that
  // do not wait for one another, so the CPU overlaps their cache misses, where the loop below
  // would wait for each term's in turn. At 100k articles the postings are far larger than the
  // cache, and accumulating took a third less time; the sums are made in the same order.
  const m = to - from
  if (spanBegin.length < m) {
    spanBegin = new Uint32Array(m * 2)
    spanEnd = new Uint32Array(m * 2)
  }
  for (let i = 0; i < m; i++) {
    const t = qTerms[from + i] as number
    // Terms in more than maxDf documents have empty postings: no df lookup needed here.
    const inBase = t < vocabSize
    spanBegin[i] = inBase ? (iStart[t] as number) : 0
    spanEnd[i] = inBase ? (iStart[t + 1] as number) : 0
  }
  let warm = 0
  for (let i = 0; i < m; i++) {
    const begin = spanBegin[i] as number
    if (begin < (spanEnd[i] as number)) warm += iPost[2 * begin] as number
  }
  readAhead[0] = warm
  for (let i = from; i < to; i++) {
    const t = qTerms[i] as number
    const w = qWeights[i] as number
    const begin = spanBegin[i - from] as number
    const end = spanEnd[i - from] as number
    if (begin < end) {
      if (touched.length < count + end - begin) growTouched(count + end - begin)
      for (let j = 2 * begin; j < 2 * end; j += 2) {
        const d = iPost[j] as number
        const a = acc[d] as number
        if (a === 0) touched[count++] = d
        acc[d] = a + w * (iPostWeight[j + 1] as number)
      }
    }
    if (!hasAdded || (t < vocabSize && (df[t] as number) > maxDf)) continue
    const extra = index.addedPostings.get(t)
    if (!extra) continue
    if (touched.length < count + extra.length) growTouched(count + extra.length)
    for (let j = 0; j < extra.length; j += 2) {
      const d = extra[j] as number
      const a = acc[d] as number
      if (a === 0) touched[count++] = d
      acc[d] = a + w * (extra[j + 1] as number)
    }
  }
  const qDay = index.days[q] as number
  const qThemes = index.themeLists[index.themeIds[q] as number] as readonly string[]
  const themeCount = index.themeLists.length
  if (themeStamp.length < themeCount) {
    themeStamp = new Uint32Array(themeCount * 2)
    themeBoostOf = new Float64Array(themeCount * 2)
    stamp = 0
  }
  stamp = (stamp + 1) >>> 0
  if (stamp === 0) {
    themeStamp.fill(0)
    stamp = 1
  }
  const removed = index.removed.size > 0 ? index.removed : null
  if (themed.length < count) themed = new Float64Array(count * 2)
  if (bounds.length < count) bounds = new Float64Array(count * 2)
  // Compact the touched documents in place into the candidates, with their themed scores.
  let n = 0
  for (let i = 0; i < count; i++) {
    const d = touched[i] as number
    const text = acc[d] as number
    acc[d] = 0
    if (d === q || (removed?.has(d) ?? false)) continue
    const theme = index.themeIds[d] as number
    if (themeStamp[theme] !== stamp) {
      themeStamp[theme] = stamp
      const docThemes = index.themeLists[theme] as readonly string[]
      themeBoostOf[theme] =
        qThemes.length === 0 || docThemes.length === 0
          ? 0
          : cfg.themeBoost * sharedThemes(qThemes, docThemes)
    }
    touched[n] = d
    themed[n] = text + (themeBoostOf[theme] as number)
    n++
  }
  let cut = Number.NEGATIVE_INFINITY
  if (keep > 0 && n > keep) {
    const floor = cfg.recencyFloor
    for (let i = 0; i < n; i++) bounds[i] = (themed[i] as number) * floor
    cut = kthLargest(bounds, n, keep)
  }
  const out: Candidates = { docs: [], scores: [], complete: cut === Number.NEGATIVE_INFINITY }
  for (let i = 0; i < n; i++) {
    const score = themed[i] as number
    if (score < cut) continue
    const d = touched[i] as number
    out.docs.push(d)
    out.scores.push(score * recencyFactor(qDay, index.days[d] as number, cfg))
  }
  return out
}

// k-th largest of the first `n` values (quickselect; reorders them).
function kthLargest(values: Float64Array, n: number, k: number): number {
  let lo = 0
  let hi = n - 1
  const target = k - 1
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1] as number
    let i = lo
    let j = hi
    while (i <= j) {
      while ((values[i] as number) > pivot) i++
      while ((values[j] as number) < pivot) j--
      if (i <= j) {
        const t = values[i] as number
        values[i] = values[j] as number
        values[j] = t
        i++
        j--
      }
    }
    if (target <= j) hi = j
    else if (target >= i) lo = i
    else break
  }
  return values[target] as number
}

/** True when two documents are near-identical copies by their shingle sketches. */
export function isCopy(index: RelatedIndex, a: number, b: number, cfg: RelatedConfig): boolean {
  const similar = resemblance(sketchOf(index, a), sketchOf(index, b), cfg.sketchSize)
  return similar >= cfg.nearDuplicateThreshold
}

// Candidate order: higher score first, then slug ascending (D5: ties break by slug).
function before(index: RelatedIndex, c: Candidates, x: number, y: number): boolean {
  const sx = c.scores[x] as number
  const sy = c.scores[y] as number
  if (sx !== sy) return sx > sy
  return (index.slugs[c.docs[x] as number] as string) < (index.slugs[c.docs[y] as number] as string)
}

// Positions of the best `m` candidates in ranking order, via a bounded heap (no full sort).
function topPositions(index: RelatedIndex, c: Candidates, m: number, minScore: number): number[] {
  const heap: number[] = []
  const worse = (x: number, y: number) => before(index, c, y, x)
  for (let i = 0; i < c.docs.length; i++) {
    if (!((c.scores[i] as number) > minScore)) continue
    if (heap.length < m) {
      heap.push(i)
      for (let k = heap.length - 1; k > 0; ) {
        const p = (k - 1) >> 1
        if (!worse(heap[k] as number, heap[p] as number)) break
        ;[heap[k], heap[p]] = [heap[p] as number, heap[k] as number]
        k = p
      }
    } else if (before(index, c, i, heap[0] as number)) {
      heap[0] = i
      for (let k = 0; ; ) {
        const l = 2 * k + 1
        const r = l + 1
        let w = k
        if (l < heap.length && worse(heap[l] as number, heap[w] as number)) w = l
        if (r < heap.length && worse(heap[r] as number, heap[w] as number)) w = r
        if (w === k) break
        ;[heap[k], heap[w]] = [heap[w] as number, heap[k] as number]
        k = w
      }
    }
  }
  return heap.sort((x, y) => (before(index, c, x, y) ? -1 : 1))
}

/**
 * The top `limit` related stories of `slug` in relevance order: never the article itself,
 * at most one of a set of near-identical copies, ties broken by slug. Unknown slug: empty.
 */
export function rankRelated(
  index: RelatedIndex,
  slug: string,
  config?: Partial<RelatedConfig>,
  scored?: ScoredQueries,
): RelatedItem[] {
  const cfg = config ? resolveConfig({ ...index.config, ...config }) : index.config
  const q = index.position.get(slug)
  if (q === undefined) return []
  const best = scored?.get(q)
  if (best) {
    const ranked = pickRelated(index, q, best, cfg, best.complete ? Infinity : best.docs.length)
    if (ranked) return ranked
  }
  const keep = cfg.limit * 2 + 4
  const pruned = scoreCandidates(index, q, cfg, keep)
  const ranked = pickRelated(index, q, pruned, cfg, pruned.complete ? Infinity : keep)
  if (ranked) return ranked
  // Copies used up the few candidates pruning vouches for: score them all.
  return pickRelated(index, q, scoreCandidates(index, q, cfg), cfg) as RelatedItem[]
}

/**
 * The best candidates of documents a search for peers already scored (peersAboveDocs), in ranking
 * order: rankRelated picks from them instead of scoring the document again, when the index and
 * configuration are those of the search. A busy tick ranks the lists of the stories it just
 * searched for (100 of 100 at 100k articles): scoring them again took 125 to 200 ms of it.
 */
export type ScoredQueries = Map<number, Candidates>

// The best `m` candidates, in ranking order, with `complete` set when no other one could be
// picked (none above minScore was left out): pickRelated's first window, kept per query.
function bestCandidates(
  index: RelatedIndex,
  c: Candidates,
  m: number,
  minScore: number,
): Candidates {
  const order = topPositions(index, c, m, minScore)
  return {
    docs: order.map((i) => c.docs[i] as number),
    scores: order.map((i) => c.scores[i] as number),
    complete: order.length < m,
  }
}

// How many of the best candidates pickRelated looks at first: room for a few copies to skip.
const firstWindow = (cfg: RelatedConfig) => cfg.limit * 4 + 8

// The best `limit` of the candidates that are neither copies of the source nor of each other.
// `exact` is set when the candidates are not all there are (pruned, or the best kept of them):
// only their best `exact` are known to be the best of all, and the list is null when it needs
// more of them than that.
function pickRelated(
  index: RelatedIndex,
  q: number,
  candidates: Candidates,
  cfg: RelatedConfig,
  exact = Infinity,
): RelatedItem[] | null {
  for (let m = firstWindow(cfg); ; m *= 4) {
    const kept: number[] = []
    const order = topPositions(index, candidates, m, cfg.minScore)
    for (const [p, i] of order.entries()) {
      if (kept.length >= cfg.limit) break
      if (p >= exact) return null
      const d = candidates.docs[i] as number
      if (cfg.collapseSourceCopies && isCopy(index, q, d, cfg)) continue
      if (kept.some((k) => isCopy(index, candidates.docs[k] as number, d, cfg))) continue
      kept.push(i)
    }
    // Copies may have used up the window: widen it unless every candidate was already seen (of
    // a pruned set, all it holds is not all there is).
    if (kept.length < cfg.limit && order.length < m && exact !== Infinity) return null
    if (kept.length >= cfg.limit || order.length < m) {
      return kept.map((i) => ({
        slug: index.slugs[candidates.docs[i] as number] as string,
        score: candidates.scores[i] as number,
      }))
    }
  }
}

/**
 * The lowest score a peer's stored list holds: a full list's last score, `-Infinity` when the
 * list is shorter than the limit (anything may enter), `undefined` when unknown (treated alike).
 */
export type ListFloor = (slug: string) => number | undefined

/**
 * A lower bound of the floors a ListFloor reports, so that peersAboveDocs passes over a candidate
 * scoring below it without looking its floor up: `lowest` is at most the floor of every document
 * of the index but those named in `open` (floors unknown, or lists that are not full).
 */
export interface FloorBound {
  lowest: number
  open: Iterable<string>
}

/**
 * Peers whose list `slugs` may enter (or, on an index from before a change, may hold): those
 * scoring at or above the peer's floor, less a relative `margin` that absorbs drift of the corpus
 * statistics between the tick that ranked the list and this one. Scores are symmetric.
 */
export function peersAbove(
  index: RelatedIndex,
  slugs: ReadonlyArray<string>,
  floorOf: ListFloor,
  margin = 0,
  config?: Partial<RelatedConfig>,
  onPeer?: PeerHit,
  bound?: FloorBound,
  scored?: ScoredQueries,
): string[] {
  const docs: number[] = []
  for (const slug of new Set(slugs)) {
    const x = index.position.get(slug)
    if (x !== undefined) docs.push(x)
  }
  return peersAboveDocs(index, docs, floorOf, margin, config, onPeer, bound, scored)
}

/** Told each peer a query reaches and the query's score in that peer's list. */
export type PeerHit = (peer: string, query: number, score: number) => void

/**
 * peersAbove by document number: a document replaced or removed since the index was built is
 * still a valid query (its old version), and its peers are the lists that may hold it. With
 * `scored`, each query's best candidates are kept there for rankRelated.
 */
export function peersAboveDocs(
  index: RelatedIndex,
  queries: ReadonlyArray<number>,
  floorOf: ListFloor,
  margin = 0,
  config?: Partial<RelatedConfig>,
  onPeer?: PeerHit,
  bound?: FloorBound,
  scored?: ScoredQueries,
): string[] {
  const cfg = config ? resolveConfig({ ...index.config, ...config }) : index.config
  const out = new Set<string>()
  // Each peer's floor, looked up once: the queries of a busy tick share most of their candidates
  // (a lookup per candidate took 150 of this search's 235 ms in a profile at 100k articles).
  const floors = new Float64Array(index.slugs.length).fill(Number.NaN)
  // A candidate below every known floor is no list's peer, and most are: a story shares a common
  // word with much of the site. Only open ones need a lookup then (the lookups, one per distinct
  // candidate, took about 80 ms of a +100 tick at 100k articles).
  const open = new Uint8Array(bound ? index.slugs.length : 0)
  let below = Number.NEGATIVE_INFINITY
  if (bound) {
    for (const slug of bound.open) {
      const d = index.position.get(slug)
      if (d !== undefined) open[d] = 1
    }
    below = bound.lowest * (1 - margin) - 1e-9
  }
  for (const x of new Set(queries)) {
    const candidates = scoreCandidates(index, x, cfg)
    scored?.set(x, bestCandidates(index, candidates, firstWindow(cfg), cfg.minScore))
    const { docs, scores } = candidates
    for (let i = 0; i < docs.length; i++) {
      const score = scores[i] as number
      if (!(score > cfg.minScore)) continue
      const d = docs[i] as number
      if (score < below && open[d] !== 1) continue
      let floor = floors[d] as number
      if (Number.isNaN(floor)) {
        floor = floorOf(index.slugs[d] as string) ?? Number.NEGATIVE_INFINITY
        floors[d] = floor
      }
      if (score >= floor * (1 - margin) - 1e-9) {
        const peer = index.slugs[d] as string
        out.add(peer)
        onPeer?.(peer, x, score)
      }
    }
  }
  return [...out].sort()
}

/**
 * `current` (the stored ranking of `slug`'s list) with the stories `entering` placed by their
 * scores, as rankRelated would rank them when nothing else in the list's candidates changed:
 * an entrant below a full list's last item stays out, one that copies the source or a story
 * ranked above it is skipped, and the list keeps its limit. Null when placing is not enough and
 * the list must be ranked again: an entrant is already listed, unknown to the index, or copies a
 * story ranked below it (which would leave the list, and what follows it is not known here).
 * Scores are symmetric, so an entrant's score in the list is its score against `slug`.
 */
export function insertRelated(
  index: RelatedIndex,
  slug: string,
  current: ReadonlyArray<RelatedItem>,
  entering: ReadonlyArray<RelatedItem>,
  config?: Partial<RelatedConfig>,
): RelatedItem[] | null {
  const cfg = config ? resolveConfig({ ...index.config, ...config }) : index.config
  const q = index.position.get(slug)
  if (q === undefined) return null
  const docOf = (s: string) => {
    const d = index.position.get(s)
    return d === undefined || index.removed.has(d) ? undefined : d
  }
  const list = [...current]
  const docs: number[] = []
  for (const item of list) {
    const d = docOf(item.slug)
    if (d === undefined) return null
    docs.push(d)
  }
  const ahead = (a: RelatedItem, b: RelatedItem) =>
    a.score !== b.score ? a.score > b.score : a.slug < b.slug
  const order = [...entering].sort((a, b) => (ahead(a, b) ? -1 : 1))
  for (const x of order) {
    if (list.some((item) => item.slug === x.slug)) return null
    if (!(x.score > cfg.minScore)) continue
    const dx = docOf(x.slug)
    if (dx === undefined || dx === q) return null
    let at = list.findIndex((item) => ahead(x, item))
    if (at < 0) at = list.length
    if (at >= cfg.limit) continue
    if (cfg.collapseSourceCopies && isCopy(index, q, dx, cfg)) continue
    if (docs.slice(0, at).some((d) => isCopy(index, d, dx, cfg))) continue
    if (docs.slice(at).some((d) => isCopy(index, d, dx, cfg))) return null
    list.splice(at, 0, x)
    docs.splice(at, 0, dx)
    list.length = Math.min(list.length, cfg.limit)
    docs.length = list.length
  }
  return list
}

/** The floor of a ranked list as `ListFloor` reports it. */
export function listFloor(list: ReadonlyArray<RelatedItem>, config?: Partial<RelatedConfig>) {
  const cfg = resolveConfig(config)
  return list.length >= cfg.limit
    ? (list[list.length - 1] as RelatedItem).score
    : Number.NEGATIVE_INFINITY
}

/**
 * Slugs whose related lists may change once `slugs` were added, changed or removed (the index
 * already updated): the changed documents themselves, lists that held them, and lists they now
 * enter. Without the current lists every document sharing a term with a changed one is returned.
 */
export function affectedBy(
  index: RelatedIndex,
  slugs: ReadonlyArray<string>,
  current?: ReadonlyMap<string, ReadonlyArray<RelatedItem>>,
  config?: Partial<RelatedConfig>,
): string[] {
  const cfg = config ? resolveConfig({ ...index.config, ...config }) : index.config
  const changed = new Set(slugs)
  const out = new Set<string>()
  if (current) {
    for (const [owner, list] of current) {
      if (index.position.has(owner) && list.some((item) => changed.has(item.slug))) out.add(owner)
    }
  }
  for (const slug of changed) if (index.position.has(slug)) out.add(slug)
  const floorOf: ListFloor = (peer) => {
    const list = current?.get(peer)
    return list ? listFloor(list, cfg) : undefined
  }
  for (const peer of peersAbove(index, [...changed], floorOf, 0, cfg)) out.add(peer)
  return [...out].sort()
}
