// The refresh job: the one writer of every shared key (D1). The cron, `wrangler dev`'s first
// start, the import CLI and the tests all run this same function.
//   load (job state, change markers, a slice of the article listing)
//   -> compute (catalog, story lists, related lists: pure)
//   -> save (only the values whose bytes changed, within the write budget; then the job state).
// A tick that fails part-way leaves its markers and cursor unsaved, so the next tick redoes it.
import type { SiteConfig } from '../config'
import type { FeedSite } from '../feeds/build-feeds'
import { type Article, isPublished } from '../model/article'
import { utcMillis } from '../model/utc-time'
import {
  assembleIndex,
  type BaseDocs,
  type BaseMeta,
  buildIndex,
  DEFAULT_RELATED_CONFIG,
  type DocVector,
  encodeBase,
  type FloorBound,
  findRareHits,
  insertRelated,
  type ListFloor,
  listFloor,
  mergeRareHits,
  peersAbove,
  peersAboveDocs,
  type RelatedConfig,
  type RelatedIndex,
  type RelatedItem,
  rankRelated,
  type ScoredQueries,
  StoredIndexError,
  termsOf,
  updateIndex,
  vectorize,
} from '../related'
import {
  deleteChangeMarkers,
  getArticles,
  listArticleKeys,
  listChangeMarkers,
} from '../storage/articles'
import { getMany } from '../storage/bulk-get'
import { bytesDigest, ContentHasher, contentHash, contentHashLanes } from '../storage/content-hash'
import { countingKv, type KvCounts } from '../storage/counting-kv'
import { listDocumentMetas } from '../storage/documents'
import {
  decodeRelatedList,
  deleteValue,
  encodeValue,
  getRawValues,
  putValue,
  type RefreshStatus,
  type RelatedList,
  type StoryList,
  type ThemeIndex,
} from '../storage/indexes'
import {
  type CatalogEntry,
  type DocumentsQuiet,
  deltaStamp,
  encodeJobChanges,
  ensureCorpus,
  type JobCursor,
  type JobState,
  loadJobState,
  parseJobCursor,
  REACHED_KEPT,
  type Reached,
  saveJobState,
  setVector,
  touch,
} from '../storage/job-state'
import { keys, shardOf, slugOfChangeKey } from '../storage/keys'
import { type ListingWrite, listingWrites, takeMonthWrite } from '../storage/listing'
import {
  type BaseHead,
  basePartReader,
  baseRareReader,
  baseValues,
  baseWrites,
  loadBaseDocs,
  loadBaseHead,
  loadBaseMeta,
  type Overlay,
  type OverlayDoc,
  saveOverlay,
  writeBase,
} from '../storage/related-base'
import {
  buildLists,
  DEFAULT_LIST_CAPS,
  groupPublished,
  impliedListKeys,
  type ListCaps,
  listKeysOf,
  listKeysOfEntry,
  monthOf,
  monthsShown,
  type PublishedGroups,
  publishedNewest,
  storedSummaries,
  storyListSources,
} from './build-lists'
import {
  advanceRelatedBuild,
  BUILD_DOCS_PER_TICK,
  buildBudget,
  buildWriteReserve,
  startBuild,
  sweepRelatedBuilds,
} from './build-related'
import { archiveShape, FEED_FORMAT_VERSION, planFeeds } from './plan-feeds'
import { newsWindowEnds, planSitemaps, SITEMAP_FORMAT_VERSION } from './plan-sitemaps'
import { type DocumentStepResult, refreshDocuments } from './refresh-documents'
import { syncListing } from './refresh-listing'
import { pingHub } from './websub-ping'

/** The feed builders' view of the site settings. */
export function feedSite(site: SiteConfig): FeedSite {
  return {
    siteUrl: site.siteUrl,
    title: site.name,
    description: site.description,
    language: site.language,
    copyright: site.copyright,
    feedIdAuthority: site.feedIdAuthority,
    ...(site.websubHub ? { hub: site.websubHub } : {}),
  }
}

/** Tuning of one tick; the defaults suit a site of up to tens of thousands of articles. */
export interface RefreshOptions {
  /** the tick's time: decides embargoes; never read from the clock inside the job */
  now: Date
  /** site settings: related count, write budget, feed settings */
  site: SiteConfig
  /** most KV writes + deletes this tick may make (default: the site's REFRESH_WRITE_BUDGET) */
  writeBudget?: number
  /** pings the WebSub hub; tests pass their own */
  fetcher?: typeof fetch
  /** article-listing pages (1,000 keys each) the rolling full pass reads per tick */
  listPagesPerTick?: number
  /** most changed articles read per tick */
  maxChangesPerTick?: number
  /** stored related lists re-read and compared per tick, so a lost or corrupt one heals */
  verifyPerTick?: number
  /**
   * lists a large site ranks per tick at least after its stored related index was built again,
   * until every list was ranked against that build's statistics (a full re-rank in slices that
   * fill what the tick's own lists leave)
   */
  rerankPerTick?: number
  /**
   * above this many published articles, a tick ranks only the related lists a change can reach,
   * plus the verification slice (a full re-rank in slices); at or below it, every list each tick
   */
  incrementalAbove?: number
  /** identity bytes of feeds and sitemaps a tick renders at most (DOCUMENT_BYTES_PER_TICK) */
  maxDocumentBytesPerTick?: number
  /** story lists an incremental tick re-reads and compares besides those its changes reach */
  verifyListsPerTick?: number
  /**
   * most month archives (and their listing months) a large site's tick rebuilds; the others wait
   * for the next ticks, first in line (default MONTHS_PER_TICK)
   */
  monthsPerTick?: number
  /** most related lists an incremental tick ranks; the rest wait in the job state for the next */
  maxRankPerTick?: number
  /**
   * most stories changed since the stored related index was built before a tick builds it again
   * from every vector (default: 2% of the site, at least 200)
   */
  maxOverlay?: number
  /**
   * above this many articles the stored related index is built in slices over several ticks
   * (jobs/build-related.ts), starting when the overlay passes half of maxOverlay; at or below it
   * one tick builds it whole (default SLICED_ABOVE)
   */
  slicedAbove?: number
  /** work a tick's slices of that build take, in documents (default BUILD_DOCS_PER_TICK) */
  buildPerTick?: number
  caps?: ListCaps
  related?: Partial<RelatedConfig>
  /**
   * milliseconds on any clock (the bench passes process CPU time); when given, the report says
   * how long each phase took. The job never reads a clock itself (workerd's stands still).
   */
  clock?: () => number
  /**
   * the parts this invocation runs (default: all of them, in one invocation): 'content' is the
   * change step, story lists and listing; 'documents' renders the feeds and sitemaps whose source
   * changed; 'related' vectorizes what changed and brings the related lists up to date. A site
   * that sets RELATED_CRON and DOCUMENTS_CRON runs them in cron invocations of their own, each
   * with its own CPU limit (README: Related stories, At scale).
   */
  parts?: readonly RefreshPart[]
}

/** A part of the refresh job that can run in a cron invocation of its own (RefreshOptions.parts). */
export type RefreshPart = 'content' | 'documents' | 'related' | 'build'

/** Every part, in the order one invocation runs them. */
export const REFRESH_PARTS: readonly RefreshPart[] = ['content', 'related', 'build', 'documents']

/** Phases of a tick, in the order they run. */
export type RefreshPhase =
  | 'load'
  | 'changes'
  | 'lists'
  | 'relatedPlan'
  | 'related'
  | 'build'
  | 'documents'
  | 'save'

/** What one tick did, in KV operations and articles. */
export interface RefreshReport extends KvCounts {
  articles: number
  changed: number
  removed: number
  /** articles whose engine vector this invocation made again (changed or new) */
  vectorized: number
  listsWritten: number
  /** story lists of the verification slice found sound by their stored hash, not rebuilt */
  listsSound: number
  relatedWritten: number
  /** related lists ranked this tick (placed ones included) */
  relatedRanked: number
  /** of those, lists that only gained stories, placed into the stored ranking (insertRelated) */
  relatedPlaced: number
  /** slices of the stored related index's build in slices taken (build-related.ts) */
  relatedBuildSlices: number
  /** feed and sitemap groups whose source the documents step compared with their documents' */
  documentsCompared: number
  documentsWritten: number
  /** work left for later ticks (unprocessed changes, deferred writes) */
  pending: number
  fullPassComplete: boolean
  errors: string[]
  /** time per phase on the caller's clock (RefreshOptions.clock); empty without one */
  timings: Partial<Record<RefreshPhase, number>>
}

function relatedSource(article: Article) {
  return {
    slug: article.slug,
    title: article.title,
    ...(article.subtitle ? { subtitle: article.subtitle } : {}),
    summary: article.summary,
    body: article.body,
    themes: article.themes.map((t) => t.slug),
    publishedAt: article.publishedAt,
  }
}

/** What the job's catalog remembers of an article whose stored bytes hash to `hash`. */
export function catalogEntry(
  article: Article,
  hash: string,
  previous?: CatalogEntry,
): CatalogEntry {
  return {
    slug: article.slug,
    title: article.title,
    publishedAt: article.publishedAt,
    updatedAt: article.updatedAt,
    themes: article.themes,
    hash,
    relatedHash: previous?.relatedHash ?? '',
    // Absent until its list is ranked; a field from the start, as the catalog's entries have it.
    relatedFloor: undefined,
    // The related step makes the vector of a new or changed version (vectorStale).
    vectorStale: previous && previous.hash === hash && !previous.vectorStale ? undefined : true,
    // A new version's vector is made again, whoever made the last one.
    vectorUnranked:
      previous && previous.hash === hash && !previous.vectorStale
        ? previous.vectorUnranked
        : undefined,
  }
}

/** The slugs published at the tick's time. */
interface Live {
  has(slug: string): boolean
}

/** Runs one refresh tick against a KV namespace. */
export async function runRefresh(
  rawKv: KVNamespace,
  options: RefreshOptions,
): Promise<RefreshReport> {
  const { kv, counts } = countingKv(rawKv)
  const parts = new Set(options.parts ?? REFRESH_PARTS)
  const content = parts.has('content')
  const related = parts.has('related')
  // The slices of a build of the stored related index (large sites; build-related.ts).
  const building = parts.has('build')
  const rendering = parts.has('documents')
  const now = options.now.toISOString()
  const listPages = options.listPagesPerTick ?? 10
  const maxChanges = options.maxChangesPerTick ?? 5000
  const verifyPerTick = options.verifyPerTick ?? 1000
  const relatedConfig: RelatedConfig = {
    ...DEFAULT_RELATED_CONFIG,
    ...options.related,
    limit: options.site.relatedCount,
  }
  const writeBudget = options.writeBudget ?? options.site.writeBudget
  const errors: string[] = []
  const canWrite = (more = 1) => counts.writes + counts.deletes + more <= writeBudget
  let deferred = 0
  const timings: Partial<Record<RefreshPhase, number>> = {}
  let lap = options.clock?.() ?? 0
  const phaseDone = (phase: RefreshPhase) => {
    if (!options.clock) return
    const t = options.clock()
    timings[phase] = (timings[phase] ?? 0) + t - lap
    lap = t
  }

  // The build's own invocation with no build under way or due, and the documents' own with
  // nothing since its last one to change a document: done without the catalog.
  const alone = parts.size === 1
  const idle =
    alone && building
      ? await idleBuild(kv, options, configHash(relatedConfig))
      : alone && rendering
        ? await idleDocuments(kv, options.site, now)
        : null
  if (idle) {
    phaseDone('load')
    return { ...quietReport(), ...counts, articles: idle.articles, timings }
  }

  // Load.
  const state = await loadJobState(kv)
  const { catalog, corpus } = state
  const cursor: JobCursor = {
    ...state.cursor,
    rebuilding: state.cursor.rebuilding || state.damaged,
  }
  const markers = content
    ? await listChangeMarkers(kv)
    : { keys: [] as string[], slugs: [] as string[], more: false }
  const changed = new Set(markers.slugs)
  // Large sites rank against the related index stored by the last full build plus an overlay of
  // what changed since; they load every vector only to build it again (none stored, a setting
  // changed, or the overlay grew past its bound). Small sites build it from every vector each tick.
  const incrementalAbove = options.incrementalAbove ?? INCREMENTAL_ABOVE
  const large = state.catalog.size > incrementalAbove
  const head: BaseHead | null = (related || building) && large ? await loadBaseHead(kv) : null
  const baseConfig = configHash(relatedConfig)
  const maxOverlay = overlayBound(options, state.catalog.size)
  phaseDone('load')

  // Rolling full pass: compare a slice of the listing with the catalog, so a lost marker or a
  // lost catalog heals. Keys list in byte order, so the slice is a key range: catalog entries
  // inside it that the listing no longer shows were removed.
  let fullPassComplete = false
  const lower = cursor.cursor === null ? null : cursor.lastSlug
  let upper: string | null = null
  let listCursor = cursor.cursor
  const seen = new Set<string>()
  for (let page = 0; content && page < listPages && changed.size < maxChanges; page++) {
    const listing = await listArticleKeys(kv, listCursor)
    for (const { slug, hash } of listing.entries) {
      seen.add(slug)
      if (catalog.get(slug)?.hash !== hash || hash === null) changed.add(slug)
    }
    listCursor = listing.cursor
    upper = listing.entries.at(-1)?.slug ?? upper
    if (listCursor === null) {
      fullPassComplete = true
      break
    }
  }
  if (content) {
    for (const slug of catalog.keys()) {
      const above = lower === null || slug > lower
      const below = fullPassComplete || (upper !== null && slug <= upper)
      if (above && below && !seen.has(slug)) changed.add(slug)
    }
    cursor.cursor = fullPassComplete ? null : listCursor
    cursor.lastSlug = fullPassComplete ? null : upper
  }

  // Read what changed and update the catalog; the related step makes the vectors (vectorStale).
  const toRead = [...changed].sort().slice(0, maxChanges)
  const unread = changed.size - toRead.length
  const records: Awaited<ReturnType<typeof getArticles>> =
    toRead.length > 0 ? await getArticles(kv, toRead) : new Map()
  let removed = 0
  let catalogChanged = false
  // Old and new versions of what changed: the story lists they are in are the ones to rebuild.
  const changedEntries: CatalogEntry[] = []
  // The hash each read story had before this tick: the version the stored lists were built from.
  const hashBefore = new Map<string, string | undefined>()
  for (const slug of toRead) {
    const old = catalog.get(slug)
    if (old) changedEntries.push(old)
    hashBefore.set(slug, old?.hash)
  }
  for (const slug of toRead) {
    const record = records.get(slug)
    if (!record || record.stored.state === 'missing' || record.stored.state === 'gone') {
      // Its vector stays until the related step has found the lists that held it: it drops
      // vectors no catalog entry has (and folding a shard keeps only the catalog's).
      if (catalog.delete(slug)) {
        removed++
        catalogChanged = true
        touch(state, slug)
      }
      continue
    }
    if (record.stored.state === 'corrupt') {
      // Keep serving the last good version; the record is logged every tick until fixed.
      const detail = record.stored.errors.map((e) => `${e.field} ${e.message}`).join('; ')
      errors.push(`article ${slug}: ${detail}`)
      console.error(`refresh: skipping invalid article ${slug}: ${detail}`)
      continue
    }
    const article = record.stored.article
    const entry = catalogEntry(article, record.hash ?? '', catalog.get(slug))
    catalog.set(slug, entry)
    changedEntries.push(entry)
    catalogChanged = true
    touch(state, slug)
  }
  // A new stamp for the catalog this step made: from the last one and what changed, so the same
  // changes made again to the same catalog (after a lost save) give the same stamp.
  const stampBefore = state.stamp
  if (catalogChanged) {
    state.stamp = contentHash(
      [state.stamp, ...toRead.map((slug) => `${slug} ${catalog.get(slug)?.hash ?? ''}`)].join('\n'),
    )
  }
  if (fullPassComplete) cursor.rebuilding = false
  if (content && cursor.rebuilding) cursor.listsAt = null

  // The related step's own changes: make the vector of every story whose entry says it is stale
  // (read this tick, or by a content invocation since the related step last ran).
  const vectorized: string[] = []
  let staleLeft = 0
  let rebuild = false
  // Large sites past SLICED_ABOVE build the stored index in slices instead (build-related.ts).
  const sliced = large && state.catalog.size > (options.slicedAbove ?? SLICED_ABOVE)
  // Such a site's documents invocation (DOCUMENTS_CRON) makes the vectors when the related step
  // runs in an invocation of its own (RELATED_CRON), so that the related invocation, the
  // heaviest, does not: at 100k articles reading a +100 tick's stories and making their vectors
  // took 55 to 109 ms of its Worker CPU warm, 77 to 164 ms cold (bench runs 8 and 9 of
  // 2026-11-28), and the documents invocation has the most room left. The ranking needs no old
  // vector on that path (planStreamed scores the old versions from the stored index and its
  // overlay), and the story waits for it with vectorUnranked set.
  const vectorizing = related || (rendering && !content && sliced)
  let baseUsable = false
  let wantBuild = false
  // What the related lists were last ranked with, for the incremental related step.
  const before = new Map<string, { vector: DocVector; listed: boolean }>()
  const stale: string[] = []
  // Stories whose vectors an invocation without the related step made since it last ran.
  const unranked: string[] = []
  if (vectorizing || head) {
    for (const e of catalog.values()) {
      // A site back under SLICED_ABOVE since ranks without the stored index, with the old
      // vectors of what changed: such a story's vector is made again, as a changed story's is.
      if (e.vectorUnranked && related && !sliced) {
        e.vectorUnranked = undefined
        e.vectorStale = true
        touch(state, e.slug)
      }
      if (e.vectorStale) stale.push(e.slug)
      else if (e.vectorUnranked) unranked.push(e.slug)
    }
    stale.sort()
    unranked.sort()
  }
  if (head) {
    const waiting = stale.length + unranked.length
    if (sliced) {
      // Ranking goes on against the stored index while the next one is built in slices.
      ;({ baseUsable, wantBuild } = buildDue(
        head,
        baseConfig,
        state.cursor.relatedBuild?.broken,
        waiting,
        maxOverlay,
      ))
    } else {
      rebuild = head.meta?.configHash !== baseConfig || overlaySizeOf(head) + waiting > maxOverlay
    }
  }
  if (related) {
    for (const slug of unranked) {
      ;(catalog.get(slug) as CatalogEntry).vectorUnranked = undefined
      touch(state, slug)
      vectorized.push(slug)
    }
  }
  let made = 0
  if (vectorizing) {
    const toVectorize = stale.slice(0, maxChanges)
    // Every vector, before the changes replace them: a rebuild tick finds the lists that held the
    // old versions in them.
    if (!large || rebuild) {
      await ensureCorpus(kv, state)
      // Vectors of stories gone from the catalog: their old versions, then they go.
      for (const [slug, vector] of corpus) {
        if (catalog.has(slug)) continue
        before.set(slug, { vector: vector as DocVector, listed: true })
        setVector(state, slug, null)
      }
    }
    // The articles this tick read already are not read again.
    const unreadStale = toVectorize.filter((slug) => records.get(slug)?.stored.state !== 'live')
    const read: typeof records =
      unreadStale.length > 0 ? await getArticles(kv, unreadStale) : new Map()
    for (const slug of toVectorize) {
      const entry = catalog.get(slug) as CatalogEntry
      const stored = (records.get(slug) ?? read.get(slug))?.stored
      // Gone since the change step read it (that step removes it next), or unreadable: the
      // change step keeps serving its last good version and logs it, and this reads it again.
      if (stored?.state !== 'live') continue
      const vector = corpus.get(slug) as DocVector | undefined
      if (vector) before.set(slug, { vector, listed: entry.relatedHash !== '' })
      setVector(state, slug, vectorize(relatedSource(stored.article), relatedConfig))
      entry.vectorStale = undefined
      made++
      if (related) vectorized.push(slug)
      else entry.vectorUnranked = true
    }
    staleLeft = stale.length - made
  }
  // Stories in their peers' lists before their vectors changed: the lists holding them may change.
  const listedBefore = new Set(
    vectorized.filter((slug) => (catalog.get(slug)?.relatedHash ?? '') !== ''),
  )
  phaseDone('changes')

  let listsWritten = 0
  let listsSound = 0
  let relatedWritten = 0
  let relatedRanked = 0
  let relatedPlaced = 0
  let relatedBuildSlices = 0
  // Story-list keys this tick rebuilt when it rebuilt only some (null: all of them), and those of
  // them its changes reached (the rest are the verification slice's).
  let listsRebuilt: Set<string> | null = null
  let listsReached: Set<string> | null = null
  // Published stories newest first, sorted once: lists, related lists and documents share it.
  const embargoed: CatalogEntry[] = []
  const published = cursor.rebuilding ? [] : publishedNewest(catalog.values(), now, embargoed)
  // Whether a slug is published: in the catalog and not under embargo. A set of the few embargoed
  // slugs, where a set of the 100k published ones took 20 to 26 ms of every tick to build.
  const held = new Set(embargoed.map((e) => e.slug))
  const live: Live = {
    has: (slug) => !cursor.rebuilding && catalog.has(slug) && !held.has(slug),
  }
  // Grouped by month and theme once: lists, feeds and sitemaps share the groups.
  const grouped = content || rendering ? groupPublished(published) : null
  if (!cursor.rebuilding && content && grouped) {
    // Story lists: compare with the stored bytes (which also heals a lost or corrupt list).
    const lists = await refreshStoryLists(kv, {
      state,
      published,
      grouped,
      changedEntries,
      hashBefore,
      records,
      cursor,
      now,
      options,
      canWrite,
    })
    listsWritten = lists.written
    listsSound = lists.sound
    listsRebuilt = lists.rebuilt
    listsReached = lists.reached
    deferred += lists.deferred
    phaseDone('lists')
  }
  // What the catalog's new stamp reached: the documents built from these story lists are those
  // its changes can alter (null when the lists step did not narrow them down: any of them).
  // An empty log starts from the stamp before, which reached nothing: documents compared at that
  // stamp (the first change since a deploy, or since the log was lost) compare only these lists.
  if (catalogChanged) {
    const tags = listsReached ? [...listsReached].sort() : null
    const log: Reached[] = state.reached.length > 0 ? state.reached : [[stampBefore, []]]
    state.reached = [...log, [state.stamp, tags] as Reached].slice(-REACHED_KEPT)
  }
  if (!cursor.rebuilding && related) {
    // Related lists, written only where the bytes changed. Small sites rank every published
    // article each tick (exact, simple); large ones only what this tick's changes can reach.
    const verify = pickVerifySlice(published, cursor, verifyPerTick)
    const incremental = published.length > incrementalAbove
    const storedRelated = await getRawValues(
      kv,
      verify.map((e) => keys.related(e.slug)),
    )
    const damaged = verify.filter((e) => {
      const bytes = storedRelated.get(keys.related(e.slug))
      return !bytes || contentHash(bytes) !== e.relatedHash
    })
    const rankLimits = { maxRank: options.maxRankPerTick ?? MAX_RANK_PER_TICK }
    let plan: RelatedPlan | null = null
    // Streamed: ranked against the stored index (unless it cannot be read: then built again).
    let docs: BaseDocs | null = null
    let streamed = false
    if (incremental && head?.meta && !rebuild && (!sliced || baseUsable)) {
      streamed = true
      const basis = streamedBasis(head.meta.gen, baseConfig)
      if (basis !== cursor.relatedBasis) {
        cursor.relatedBasis = basis
        cursor.relatedVerified = 0
      }
      // Nothing to rank and the overlay current: an idle tick reads nothing more.
      const work =
        vectorized.length > 0 ||
        cursor.relatedPending.length > 0 ||
        damaged.length > 0 ||
        // Fewer published stories than the overlay was written for: one left (an addition makes
        // a vector or a list to rank, so a removal and an addition together are seen too).
        head.overlay?.published !== published.length ||
        cursor.relatedVerified < published.length ||
        head.overlay?.gen !== head.meta.gen ||
        published.some((e) => e.relatedHash === '')
      if (work) {
        docs = await loadBaseDocs(kv, head.meta)
        if (!docs) {
          rebuild = !sliced
          streamed = false
        }
      }
    }
    if (streamed && docs && head?.meta) {
      try {
        plan = await planStreamed(kv, {
          state,
          head,
          meta: head.meta,
          docs,
          published,
          live,
          vectorized,
          listedBefore,
          damaged,
          storedRelated,
          cursor,
          config: relatedConfig,
          limits: rankLimits,
          rerank: options.rerankPerTick ?? RERANK_PER_TICK,
        })
      } catch (error) {
        if (!(error instanceof StoredIndexError)) throw error
        console.error(`refresh: building the related index again: ${error.message}`)
        streamed = false
        plan = null
      }
    }
    // A large site whose stored index cannot be ranked against waits for the build in slices:
    // its lists stay as they are meanwhile, the changed stories' own queued. An index found
    // unreadable is not read again by the ticks until then.
    const paused = sliced && !streamed
    if (paused) {
      if (baseUsable && head?.meta) {
        cursor.relatedBuild ??= startBuild({ published, configHash: baseConfig, now: options.now })
        cursor.relatedBuild.broken = head.meta.gen
      }
      wantBuild = true
      for (const slug of vectorized) {
        if (!cursor.relatedPending.includes(slug)) cursor.relatedPending.push(slug)
      }
    }
    // A build in slices keeps writes for its slices whatever the ranking wants.
    const buildReserve =
      building && sliced && (wantBuild || cursor.relatedBuild)
        ? buildWriteReserve(published.length)
        : 0
    if (!streamed && !paused) {
      await ensureCorpus(kv, state)
      const basis = relatedBasis(published, relatedConfig)
      if (basis !== cursor.relatedBasis) {
        cursor.relatedBasis = basis
        cursor.relatedVerified = 0
      }
      // Settled: nothing a list depends on changed since every list was ranked against it. Then
      // a tick only ranks the verification slice's lists that were lost or corrupted.
      const settled =
        cursor.relatedPending.length === 0 && cursor.relatedVerified >= published.length
      if (!settled) {
        plan = incremental
          ? await planIncremental(
              kv,
              storedRelated,
              published,
              live,
              catalog,
              corpus,
              before,
              verify,
              cursor,
              relatedConfig,
              rankLimits,
            )
          : planFull(published, corpus, relatedConfig)
        cursor.relatedVerified += incremental
          ? plan.toRank.filter((e) => storedRelated.has(keys.related(e.slug))).length
          : published.length
      } else if (damaged.length > 0) {
        plan = {
          index: buildIndex(vectorsOf(published, corpus), relatedConfig),
          toRank: damaged,
          deferred: [],
        }
      }
      // A large site keeps what it just built: later ticks stream it instead of building it.
      if (incremental && head) {
        const index = plan?.index ?? buildIndex(vectorsOf(published, corpus), relatedConfig)
        const base = encodeBase(
          index,
          // A stale vector is stored under no hash: the next tick's overlay takes the new one.
          new Map(published.map((e) => [e.slug, e.vectorStale || e.vectorUnranked ? '' : e.hash])),
          basis,
          baseConfig,
        )
        const needed = baseWrites(base) + (head.meta ? baseValues(head.meta) : 0)
        if (writeBudget - counts.writes - counts.deletes >= needed) {
          await writeBase(kv, base)
          cursor.relatedBasis = streamedBasis(basis, baseConfig)
          // Lists ranked this tick were ranked against exactly this index.
          cursor.relatedVerified = plan
            ? plan.toRank.filter((e) => storedRelated.has(keys.related(e.slug))).length
            : 0
        } else {
          deferred++
        }
      }
    }
    phaseDone('relatedPlan')
    const pending = new Set(cursor.relatedPending)
    const placed = plan?.placed ?? new Map<string, RelatedItem[]>()
    // Set once a changed list finds no write left: the lists after it wait for the next tick
    // unranked, as a changed one would after ranking, since that tick ranks them again (100
    // stories removed at once at 100k ranked 1,112 lists to write 499; bench run 16).
    let writesOut = false
    for (const entry of plan?.toRank ?? []) {
      if (writesOut) {
        deferred++
        pending.add(entry.slug)
        continue
      }
      const key = keys.related(entry.slug)
      const kept = placed.get(entry.slug)
      if (kept) relatedPlaced++
      const ranked =
        kept ?? rankRelated(plan?.index as RelatedIndex, entry.slug, relatedConfig, plan?.scored)
      // Scores and floors serve the incremental path only (placing newcomers, finding the lists a
      // change reaches). A small site ranks every list with statistics that move with each story:
      // stored scores would change every list's bytes, and one publish would rewrite them all.
      const bytes = encodeValue(relatedListValue(ranked, catalog, incremental))
      const hash = contentHash(bytes)
      const verified = storedRelated.has(key)
      const upToDate = verified ? storedRelated.get(key) === bytes : entry.relatedHash === hash
      relatedRanked++
      if (!upToDate && !canWrite(1 + buildReserve)) {
        deferred++
        pending.add(entry.slug)
        writesOut = true
        continue
      }
      if (!upToDate) {
        await putValue(kv, key, bytes)
        relatedWritten++
      }
      const floor = incremental ? storedFloor(listFloor(ranked, relatedConfig)) : null
      if (entry.relatedHash !== hash || entry.relatedFloor !== floor) touch(state, entry.slug)
      entry.relatedHash = hash
      entry.relatedFloor = floor
      pending.delete(entry.slug)
    }
    for (const slug of plan?.deferred ?? []) pending.add(slug)
    deferred += plan?.deferred.length ?? 0
    for (const slug of pending) {
      const entry = catalog.get(slug)
      if (!entry || !isPublished(entry, now)) pending.delete(slug)
    }
    cursor.relatedPending = [...pending].sort()
    // Articles that left (deleted, or back under embargo) lose their related list.
    for (const entry of catalog.values()) {
      if (entry.relatedHash === '' || !held.has(entry.slug)) continue
      if (!canWrite()) {
        deferred++
        continue
      }
      await deleteValue(kv, keys.related(entry.slug))
      entry.relatedHash = ''
      touch(state, entry.slug)
    }
    // The index and the stored documents table (17 MB of heap and 15 MB of array buffers at
    // 100k articles) are done with. A suspended async function keeps its block's variables in
    // its saved registers after the block ends, so without this they stayed alive through the
    // documents and the save.
    plan = null
    docs = null
    phaseDone('related')
  }
  // The build's slices run after the ranking: in the related part's invocation they take what
  // its ranking leaves (RELATED_BUILD_CRON unset), in one of their own the whole budget.
  if (!cursor.rebuilding && building) {
    if (large && sliced && (wantBuild || cursor.relatedBuild)) {
      const build = await advanceRelatedBuild(kv, {
        state,
        cursor,
        published,
        live,
        config: relatedConfig,
        configHash: baseConfig,
        currentGen: head?.meta?.gen ?? null,
        overlayBytes: head?.overlayBytes ?? null,
        budget: buildBudget(options.buildPerTick ?? BUILD_DOCS_PER_TICK, relatedRanked),
        canWrite,
        basisOf: (gen) => streamedBasis(gen, baseConfig),
        now: options.now,
      })
      relatedBuildSlices = build.slices
    }
    // A site back under SLICED_ABOVE builds at once: a build in slices under way is dropped.
    if (!sliced && cursor.relatedBuild) {
      cursor.relatedBuild = null
      cursor.relatedSweep = true
    }
    if (large && cursor.relatedSweep) {
      // The meta as it is now: a build may have replaced it this tick.
      const meta = await loadBaseMeta(kv)
      await sweepRelatedBuilds(kv, cursor, meta?.gen ?? null, canWrite)
    }
    phaseDone('build')
  }
  // Removed articles lose their related list (the related step drops their vectors).
  for (const slug of cursor.rebuilding || !content ? [] : changed) {
    if (catalog.has(slug) || !records.has(slug)) continue
    if (!canWrite()) {
      deferred++
      continue
    }
    await deleteValue(kv, keys.related(slug))
  }

  // Feeds: re-render the documents whose source changed; ping the hub for changed subscriptions.
  let documents: DocumentStepResult | null = null
  if (!cursor.rebuilding && rendering && grouped) {
    const groups = planFeeds(
      published,
      feedSite(options.site),
      now,
      {
        maxItems: options.site.feedItems,
        cacheSeconds: options.site.cronIntervalMinutes * 60,
      },
      grouped,
    )
    // Sitemaps ride the same document step: rendered when their source changes, stored with ETags.
    groups.push(
      ...planSitemaps(
        published,
        options.site,
        now,
        { cacheSeconds: options.site.cronIntervalMinutes * 60 },
        grouped,
      ),
    )
    // Large sites compare only the documents built from the story lists this tick rebuilt, unless
    // the document settings changed since the last tick (a deploy with a new format, a new URL)
    // or what the archive feeds link and name besides their stories (archiveShape). An invocation
    // that renders documents without the content part (DOCUMENTS_CRON) compares every group when
    // anything may have changed (below): nothing but the catalog passes between invocations (a
    // list of the lists rebuilt, handed over in the cursor, would be lost with a save that
    // overlapping invocations overwrite), and at 100k articles hashing every group took 131 and
    // 136 ms of Worker CPU in profiles.
    const basis = contentHash(
      JSON.stringify([
        ...documentSettings(options.site),
        groups.length,
        archiveShape(now, grouped),
      ]),
    )
    const rebuilt = basis === cursor.documentsBasis ? listsRebuilt : null
    // Without the content part, the story lists the catalog's changes reached since the last
    // comparison (documentsStamp), and those of stories published since: null when that is not
    // known (settings changed, too many stamps since, a save that undid changes), and then every
    // group is compared. An idle invocation compares only the groups left and missing documents.
    const since =
      content || basis !== cursor.documentsBasis
        ? null
        : reachedSince(state, cursor, published, now)
    // Groups the write budget or the byte cap left last tick are compared again whatever this
    // tick rebuilds, and rendered first (comparing every group instead: hashing 1,321 of the 100k
    // bench site's 1,353 feed groups took 139 ms in Node).
    const left = new Set(cursor.documentsPending)
    documents = await refreshDocuments(
      kv,
      groups,
      now,
      () => writeBudget - counts.writes - counts.deletes,
      rebuilt
        ? (tags) => tags.some((t) => rebuilt.has(t) || left.has(t))
        : since
          ? (tags) => tags.some((t) => since.has(t) || left.has(t))
          : undefined,
      {
        first: (tags) => tags.some((t) => left.has(t)),
        ...(options.maxDocumentBytesPerTick ? { maxBytes: options.maxDocumentBytesPerTick } : {}),
      },
    )
    deferred += documents.deferred
    cursor.documentsBasis = basis
    cursor.documentsStamp = state.stamp
    // The newest publication time compared, not the tick's (which would write the cursor at
    // every idle tick): stories published after it were under embargo then.
    cursor.documentsAt = published[0]?.publishedAt ?? null
    cursor.documentsPending = [...new Set(documents.deferredTags)].sort()
    // Every planned document stored and no vector left to make: what the next documents
    // invocation needs to tell, without the catalog, that it has nothing to do.
    const quiet: DocumentsQuiet | null =
      documents.deferred === 0 && staleLeft === 0
        ? {
            key: quietKey(options.site, state.stamp),
            paths: pathsHash(groups.flatMap((g) => g.documents.map((d) => d.path))),
            until: documentsChangeAt(published, embargoed, now),
          }
        : null
    if (quiet) cursor.documentsQuiet = quiet
    else delete cursor.documentsQuiet
    const hub = options.site.websubHub
    if (hub && documents.changedSubscriptions.length > 0) {
      const urls = documents.changedSubscriptions.map((p) => `${options.site.siteUrl}${p}`)
      await pingHub(hub, urls, options.fetcher ? { fetcher: options.fetcher } : {})
    }
    phaseDone('documents')
  }

  // What the build's own invocation decides from without the catalog (idleBuild).
  let waiting = 0
  for (const e of catalog.values()) if (e.vectorStale || e.vectorUnranked) waiting++
  cursor.catalogSize = catalog.size
  cursor.vectorsWaiting = waiting
  // Save the job state, then drop the markers it now covers (a crash before here redoes the tick).
  await saveJobState(
    kv,
    state,
    await encodeJobChanges(kv, state, cursor, {
      foldOne: content || related || building,
      holdRemoved: !related,
    }),
  )
  const readSet = new Set(toRead)
  const processed = markers.keys.filter((k) => readSet.has(slugOfChangeKey(k) ?? ''))
  await deleteChangeMarkers(kv, processed)

  const pending =
    unread +
    staleLeft +
    deferred +
    (markers.more ? 1 : 0) +
    (cursor.rebuilding ? 1 : 0) +
    // A build under way, or wanted and not started (dropped this tick, or no write budget left).
    (cursor.relatedBuild || (sliced && wantBuild) ? 1 : 0) +
    (cursor.relatedSweep ? 1 : 0)
  const report: RefreshReport = {
    ...counts,
    articles: cursor.rebuilding
      ? [...catalog.values()].filter((e) => isPublished(e, now)).length
      : published.length,
    changed: toRead.length,
    removed,
    vectorized: made,
    listsWritten,
    listsSound,
    relatedWritten,
    relatedRanked,
    relatedPlaced,
    relatedBuildSlices,
    documentsCompared: documents?.compared ?? 0,
    documentsWritten: documents?.written ?? 0,
    pending,
    fullPassComplete,
    errors,
    timings,
  }
  await saveStatus(kv, state.loaded.get(keys.status) ?? null, report, now)
  phaseDone('save')
  return report
}

/**
 * The story-list keys whose documents may have changed since the documents were last compared
 * (cursor.documentsStamp, documentsAt): those the catalog's changes since reached
 * (JobState.reached), and those of the stories published since. Null when that cannot be known:
 * the stamp compared last is not among those kept (too many changes since, or a save that undid
 * changes put back an older catalog), a change reached any list, or time went backwards.
 */
function reachedSince(
  state: JobState,
  cursor: JobCursor,
  published: CatalogEntry[],
  now: string,
): Set<string> | null {
  const at = cursor.documentsAt
  if (at === null || !(Date.parse(at) <= Date.parse(now))) return null
  const tags = new Set<string>()
  if (cursor.documentsStamp !== state.stamp) {
    const from = state.reached.findIndex(([stamp]) => stamp === cursor.documentsStamp)
    if (from < 0 || state.reached.at(-1)?.[0] !== state.stamp) return null
    for (const [, reached] of state.reached.slice(from + 1)) {
      if (reached === null) return null
      for (const tag of reached) tags.add(tag)
    }
  }
  // An embargo that ended since changed no entry.
  addListsPublishedAfter(published, at, tags)
  return tags
}

/**
 * Adds the story-list keys of the stories published after `since` (`published` newest first, so
 * they lead): stories out of embargo since, with no change marker and no catalog change.
 */
function addListsPublishedAfter(published: CatalogEntry[], since: string, into: Set<string>) {
  const sinceMs = Date.parse(since)
  for (const e of published) {
    if (!(Date.parse(e.publishedAt) > sinceMs)) break
    for (const key of listKeysOfEntry(e)) into.add(key)
  }
}

/** What the story-list step reads of the tick. */
interface ListStepInputs {
  state: JobState
  /** published stories, newest first, and their groups */
  published: CatalogEntry[]
  grouped: PublishedGroups
  /** old and new versions of the stories this tick read */
  changedEntries: CatalogEntry[]
  /** the stories this tick read, by slug: the hash each had before it (undefined: new) */
  hashBefore: ReadonlyMap<string, string | undefined>
  records: Awaited<ReturnType<typeof getArticles>>
  cursor: JobCursor
  now: string
  options: RefreshOptions
  canWrite: () => boolean
}

/**
 * The story lists and the listing months: rebuilds the lists the tick's changes reach (all of
 * them on small sites) and writes the values whose bytes changed. A function of its own so that
 * what it reads and builds (listing months, rebuilt lists and their stored bytes: about 90 MB at
 * 100k articles) can be collected before the related step reads the stored index.
 * `rebuilt` names the lists rebuilt when not all of them were, `reached` those of them the
 * tick's changes reached (the others are the verification slice's).
 */
async function refreshStoryLists(
  kv: KVNamespace,
  inp: ListStepInputs,
): Promise<{
  written: number
  deferred: number
  sound: number
  rebuilt: Set<string> | null
  reached: Set<string> | null
}> {
  const { state, published, grouped, changedEntries, hashBefore, records, cursor, now } = inp
  const { options, canWrite } = inp
  const { catalog } = state
  let written = 0
  let deferred = 0
  const listPlan = planLists(published, grouped, changedEntries, cursor, now, {
    incremental: published.length > (options.incrementalAbove ?? INCREMENTAL_ABOVE),
    verify: options.verifyListsPerTick ?? VERIFY_LISTS_PER_TICK,
  })
  const caps = options.caps ?? DEFAULT_LIST_CAPS
  // The lists to build: all of them, or those the tick's changes reach and the verification
  // slice's that are not found sound without building them (soundLists).
  const hashes = { ...cursor.listHashes }
  const build = listPlan.only && (await soundLists(kv, inp, listPlan, hashes, caps))
  // Past the cap, months wait: their archives and listing months, each read whole and written
  // whole, are most of a tick that reaches many (removals spread over the site), and the
  // summaries of every story in them were held at once. Those left are rebuilt first next tick.
  const monthsLater: string[] = []
  if (build) {
    const prefix = keys.month('')
    const left = new Set(cursor.listsPending)
    const months = [...build]
      .filter((key) => key.startsWith(prefix))
      .sort((a, b) => Number(left.has(b)) - Number(left.has(a)) || (a < b ? 1 : -1))
    for (const key of months.slice(options.monthsPerTick ?? MONTHS_PER_TICK)) {
      build.delete(key)
      monthsLater.push(key.slice(prefix.length))
    }
  }
  const onlyKey = build ? (key: string) => build.has(key) : undefined
  // Stored bytes of the lists rebuilt, read as the loop below reaches them, or here for the
  // lists that hold their own summaries: those keep only a digest of their bytes, since holding
  // them until the loop reaches them held the latest and theme lists (about 20 MB of text at 100k
  // articles, their summaries outside Latin-1) beside the listing months and the rebuilt lists.
  const current = new Map<string, StoredBytes>()
  // A latest or theme list the tick rebuilds keeps most of its stories: their summaries are
  // taken from its stored items when its source hash proves them built from the versions the
  // catalog held before this tick. The months are then read only for the stories that enter it
  // (at 100k articles a theme list of 500 spans 6 to 9 months of 1.8 MB, where a +100 tick adds
  // to one). Each list keeps only its own summaries, and the verification slice reads the months,
  // so a damaged summary neither spreads nor outlives the slice's next turn.
  const carried = new Map<string, Map<string, string>>()
  if (build) {
    const only = build
    const keep = [keys.latest, ...[...grouped.byTheme.keys()].map((slug) => keys.theme(slug))]
    const read = keep.filter((key) => only.has(key) && !listPlan.verified.has(key))
    const hashOf = (slug: string) =>
      hashBefore.has(slug) ? hashBefore.get(slug) : catalog.get(slug)?.hash
    for (const [key, bytes] of await getRawValues(kv, read)) {
      current.set(
        key,
        bytes === null ? null : { length: bytes.length, hash: await bytesDigest(bytes) },
      )
      const summaries = storedSummaries(bytes, hashOf)
      if (!summaries) continue
      for (const slug of hashBefore.keys()) summaries.delete(slug)
      carried.set(key, summaries)
    }
  }
  const known = (e: CatalogEntry, key: string) => carried.get(key)?.has(e.slug) === true
  // The listing months this tick's changes touch, and those whose summaries the lists show.
  // Stories not yet published (embargoed) are listed too, hidden until due (D5).
  const unpublished =
    catalog.size === published.length
      ? []
      : [...catalog.values()].filter((e) => !isPublished(e, now))
  const listingLeft = new Set<string>()
  const writeListing = async ({ key, bytes, month }: ListingWrite) => {
    if (!canWrite()) {
      deferred++
      // The index is compared every tick; a month is read again only when named.
      if (month) listingLeft.add(month)
      return
    }
    if (bytes === null) await deleteValue(kv, key)
    else await putValue(kv, key, bytes)
  }
  // The months whose summaries the lists built show are read (and so written) whatever waits.
  const shown = monthsShown(published, caps, onlyKey, grouped, known)
  const later = new Set(monthsLater.filter((month) => !shown.has(month)))
  for (const month of later) listingLeft.add(month)
  const listing = await syncListing(kv, {
    byMonth: grouped.byMonth,
    unpublished,
    fresh: records,
    legacy: state.legacy,
    later,
    months: [
      ...changedEntries.map((e) => monthOf(e.publishedAt)),
      ...cursor.listingPending,
      ...shown,
    ],
    async flush(read, months) {
      for (const month of months) {
        const write = takeMonthWrite(read, month)
        if (write) await writeListing(write)
      }
    },
  })
  for (const write of listingWrites(listing.state, listing.counts)) await writeListing(write)
  cursor.listingPending = [...listingLeft].sort()
  const summaryOf = (e: CatalogEntry, key: string) =>
    listing.summaryOf(e) ?? carried.get(key)?.get(e.slug) ?? ''
  const desired = buildLists(published, summaryOf, caps, onlyKey, grouped)
  carried.clear()
  let allKeys: string[]
  // Stored bytes, read as the loop reaches them: a few lists at a time on a large site (its month
  // archives are 1.8 MB of text each at 100k articles), every list at once on a small one.
  const perRead = build ? LISTS_PER_READ : 100
  if (build) {
    allKeys = [...build].sort()
  } else {
    const stored = await getRawValues(kv, [keys.latest, keys.themes])
    const previous = impliedListKeys(
      safeParse<StoryList>(stored.get(keys.latest)),
      safeParse<ThemeIndex>(stored.get(keys.themes)),
    )
    allKeys = [...new Set([...desired.keys(), ...previous])]
    for (const [k, v] of stored) current.set(k, v)
  }
  const listsLeft: string[] = monthsLater.map((month) => keys.month(month))
  deferred += listsLeft.length
  for (const [i, key] of allKeys.entries()) {
    if (!current.has(key)) {
      const batch = allKeys.slice(i, i + perRead).filter((k) => !current.has(k))
      for (const [k, v] of await getRawValues(kv, batch)) current.set(k, v)
    }
    const value = desired.get(key)
    const bytes = value ? encodeValue(value) : null
    const stored = current.get(key) ?? null
    // Let go of each list once compared: a month archive at 100k articles is 1.8 MB each way.
    desired.delete(key)
    current.delete(key)
    // A list built and compared for the verification slice, or by a tick that builds them all,
    // is sound as stored after this tick: its bytes' hash is kept for the slice's next turn.
    const remember = (!build || listPlan.verified.has(key)) && bytes !== null
    if (await sameBytes(stored, bytes)) {
      if (remember) hashes[key] = await bytesDigest(bytes)
      continue
    }
    if (!canWrite()) {
      deferred++
      listsLeft.push(key)
      continue
    }
    if (bytes === null) await deleteValue(kv, key)
    else await putValue(kv, key, bytes)
    written++
    if (remember) hashes[key] = await bytesDigest(bytes)
    else delete hashes[key]
  }
  // Only the lists the catalog implies keep a hash: a theme or month gone takes its own along.
  const implied = new Set(listKeysOf(grouped))
  cursor.listHashes = Object.fromEntries(
    Object.entries(hashes)
      .filter(([key]) => implied.has(key))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  )
  // The newest publication time listed: stories published after it were not in the lists.
  // (Not the tick's time, which would rewrite the job state on every idle tick.)
  cursor.listsAt = published[0]?.publishedAt ?? null
  cursor.listsMonths = listPlan.months
  cursor.listsPending = listsLeft
  const sound = build ? (listPlan.only as Set<string>).size - build.size : 0
  return {
    written,
    deferred,
    sound,
    rebuilt: listPlan.only,
    reached: listPlan.only ? listPlan.needed : null,
  }
}

/** A stored value as read, or the length and bytesDigest of its bytes. */
type StoredBytes = string | null | { length: number; hash: string }

async function sameBytes(stored: StoredBytes, bytes: string | null): Promise<boolean> {
  if (stored === null || typeof stored === 'string' || bytes === null) return stored === bytes
  return bytes.length === stored.length && (await bytesDigest(bytes)) === stored.hash
}

function safeParse<T>(text: string | null | undefined): T | null {
  if (!text) return null
  try {
    return JSON.parse(text) as T
  } catch {
    return null
  }
}

function pickVerifySlice(published: CatalogEntry[], cursor: JobCursor, size: number) {
  if (published.length <= size) {
    cursor.verifyOffset = 0
    return published
  }
  const start = cursor.verifyOffset % published.length
  const slice = [...published.slice(start, start + size)]
  if (slice.length < size) slice.push(...published.slice(0, size - slice.length))
  cursor.verifyOffset = (start + size) % published.length
  return slice
}

/**
 * Bumped whenever ranking changes in a way the configuration does not show, so that every list
 * is ranked again after such a deploy.
 */
const RELATED_ENGINE_VERSION = 2

/**
 * What every related list depends on: the published stories (their stored bytes, hence text,
 * title and date), the engine's settings and version. Equal bases rank to equal lists.
 */
function relatedBasis(published: CatalogEntry[], config: RelatedConfig): string {
  // A sum of per-story hashes: independent of order, so no sort and no 5 MB join at 100k.
  let a = 0
  let b = 0
  for (const e of published) {
    const [h1, h2] = contentHashLanes(`${e.slug} ${e.hash}`)
    a = (a + h1) >>> 0
    b = (b + h2) >>> 0
  }
  return contentHash(
    [RELATED_ENGINE_VERSION, JSON.stringify(config), published.length, a, b].join('\n'),
  )
}

const VERIFY_LISTS_PER_TICK = 4
/**
 * Month archives a large site's tick rebuilds at most (RefreshOptions.monthsPerTick). At 100k
 * articles, 100 removals spread over the site's 33 months took the content invocation 1.5 to 2.2 s
 * of Worker CPU, and in Node its heap passed 128 MB; the other months follow over the next ticks.
 */
export const MONTHS_PER_TICK = 8
/** Stored story lists an incremental tick reads per binding call, to compare with the new ones. */
const LISTS_PER_READ = 4

/**
 * The lists a large site's tick builds: those its changes reach (`needed`), and those of the
 * verification slice that are not sound. A slice's list is sound when its stored bytes hash to
 * what the slice, or the last tick that built every list, found or wrote (cursor.listHashes,
 * dropped whenever the job writes the list for another reason) and its source is the one the
 * catalog implies now: it is then neither built nor compared. At 100k articles a past month's
 * archive is 1.4 MB to build, encode and compare, and its summaries 1.7 MB of listing month to
 * read. A list that is not sound loses its hash here and is built and compared as before, which
 * heals it.
 */
async function soundLists(
  kv: KVNamespace,
  inp: ListStepInputs,
  listPlan: { only: Set<string> | null; needed: Set<string>; verified: Set<string> },
  hashes: Record<string, string>,
  caps: ListCaps,
): Promise<Set<string>> {
  const only = listPlan.only as Set<string>
  const checkable = [...listPlan.verified].filter(
    (key) => hashes[key] !== undefined && !listPlan.needed.has(key),
  )
  if (checkable.length === 0) return only
  const expected = storyListSources(inp.published, checkable, caps, inp.grouped)
  const stored = await getRawValues(kv, checkable)
  const sound = new Set<string>()
  for (const key of checkable) {
    const bytes = stored.get(key)
    const source = expected.get(key)
    if (
      bytes &&
      source &&
      storedSource(bytes) === source &&
      (await bytesDigest(bytes)) === hashes[key]
    )
      sound.add(key)
    else delete hashes[key]
  }
  return new Set([...only].filter((key) => !sound.has(key)))
}

/** The source hash a stored list's bytes name: encodeValue writes `version`, then `source`. */
function storedSource(bytes: string): string | null {
  return /^\{"version":1,"source":"([0-9a-f]+)"/.exec(bytes.slice(0, 64))?.[1] ?? null
}

/**
 * Which story lists a tick rebuilds: all of them (`only` absent) on small sites, after lost state,
 * or when the set of months changed (every list names them); otherwise the latest list, the theme
 * index, the lists the old and new versions of changed stories are in, those of stories whose
 * embargo ended since the last tick, lists left by the last tick, and a rotating slice of the rest
 * so a lost or corrupt list heals.
 */
function planLists(
  published: CatalogEntry[],
  grouped: PublishedGroups,
  changedEntries: CatalogEntry[],
  cursor: JobCursor,
  now: string,
  opts: { incremental: boolean; verify: number },
): { only: Set<string> | null; needed: Set<string>; verified: Set<string>; months: string } {
  const months = grouped.months.join(',')
  const since = cursor.listsAt
  if (
    !opts.incremental ||
    since === null ||
    !(Date.parse(since) <= Date.parse(now)) ||
    months !== cursor.listsMonths
  ) {
    cursor.listsVerifyOffset = 0
    return { only: null, needed: new Set(), verified: new Set(), months }
  }
  const only = new Set<string>([keys.latest, keys.themes, ...cursor.listsPending])
  for (const e of changedEntries) for (const key of listKeysOfEntry(e)) only.add(key)
  // Stories published after the newest one the lists held.
  addListsPublishedAfter(published, since, only)
  const needed = new Set(only)
  const all = listKeysOf(grouped)
  const start = cursor.listsVerifyOffset % Math.max(1, all.length)
  const verified = new Set<string>()
  for (let i = 0; i < Math.min(opts.verify, all.length); i++) {
    verified.add(all[(start + i) % all.length] as string)
  }
  for (const key of verified) only.add(key)
  cursor.listsVerifyOffset = (start + opts.verify) % Math.max(1, all.length)
  return { only, needed, verified, months }
}

/** Above this many published articles the related step is incremental (RefreshOptions). */
export const INCREMENTAL_ABOVE = 5000

/**
 * Articles above which the stored related index is built in slices: a build at once took 27 MB
 * of live heap and 89 MB with its arrays at 10k articles, 62 and 163 MB at 25k (README), where
 * a Worker has 128 MB.
 */
export const SLICED_ABOVE = 10_000
const MAX_RANK_PER_TICK = 3000
// Lists ranked up to a full re-rank ago saw slightly different corpus statistics: a peer whose
// floor is within this share above a changed story's score is re-ranked too, to be safe.
const FLOOR_MARGIN = 0.05
// Slugs never start with this, so old versions of changed stories cannot clash with live ones.
const OLD_VERSION = '\u0000old:'

/**
 * The lists a tick's changes reach, found in `index` (which holds the current versions): the
 * changed stories' own, those an earlier tick deferred, the peers whose floor an old version's
 * score reaches (base documents `oldBase`, and `oldVectors`, under OLD_VERSION slugs, joining the
 * index for a moment), and the peers the new versions enter. Scores are symmetric, so a peer's
 * list is reached exactly when the story scores at or above that list's floor. `scored` keeps the
 * new versions' best candidates, for ranking their own lists on this index without scoring again.
 */
function reachedLists(
  index: RelatedIndex,
  oldBase: number[],
  oldVectors: DocVector[],
  upserts: CatalogEntry[],
  cursor: JobCursor,
  floorOf: ListFloor,
  bound: FloorBound,
  config: RelatedConfig,
): { needed: Set<string>; entrants: Map<string, RelatedItem[]>; scored: ScoredQueries } {
  updateIndex(index, oldVectors)
  const olds = [...oldBase, ...oldVectors.map((v) => index.position.get(v.slug) as number)]
  // Old versions have no floor of their own while they are in the index.
  const withOld = { lowest: bound.lowest, open: [...bound.open, ...oldVectors.map((v) => v.slug)] }
  const holders = peersAboveDocs(index, olds, floorOf, FLOOR_MARGIN, config, undefined, withOld)
  const held = holders.filter((slug) => !slug.startsWith(OLD_VERSION))
  updateIndex(
    index,
    [],
    oldVectors.map((v) => v.slug),
  )
  const slugs = upserts.map((e) => e.slug)
  const hits = new Map<string, RelatedItem[]>()
  const scored: ScoredQueries = new Map()
  const entered = peersAbove(
    index,
    slugs,
    floorOf,
    FLOOR_MARGIN,
    config,
    (peer, x, score) => {
      const list = hits.get(peer)
      const hit = { slug: index.slugs[x] as string, score }
      if (list) list.push(hit)
      else hits.set(peer, [hit])
    },
    bound,
    scored,
  )
  const needed = new Set([...slugs, ...cursor.relatedPending, ...held, ...entered])
  // Lists that only gain stories: the new ones are placed among the stored ranking instead of
  // ranking the list again (606 of the 706 lists of a +100 tick at 100k articles).
  const ranked = new Set([...slugs, ...cursor.relatedPending, ...held])
  const entrants = new Map<string, RelatedItem[]>()
  for (const [peer, list] of hits) if (!ranked.has(peer)) entrants.set(peer, list)
  return { needed, entrants, scored }
}

/** Which related lists a tick ranks, against which index; `deferred` waits for the next tick. */
interface RelatedPlan {
  /** null only when nothing is ranked this tick (every list needed was deferred) */
  index: RelatedIndex | null
  toRank: CatalogEntry[]
  deferred: string[]
  /**
   * Lists of `toRank` that only gained stories this tick, already placed into their stored
   * ranking (placeEntrants); the rank step ranks the others.
   */
  placed?: Map<string, RelatedItem[]>
  /** best candidates of stories `index` scored already, in its current state (reachedLists) */
  scored?: ScoredQueries
}

/**
 * The lists of `toRank` that only gain stories (`entrants`), with those stories placed into the
 * ranking the job last stored (insertRelated); a list whose stored bytes are not those the catalog
 * names (lost, damaged, or stored without scores: before lists kept them, or by a small site), or
 * that placing cannot settle, is left out, to be ranked.
 */
async function placeEntrants(
  kv: KVNamespace,
  index: RelatedIndex,
  toRank: CatalogEntry[],
  entrants: Map<string, RelatedItem[]>,
  storedRelated: Map<string, string | null>,
  config: RelatedConfig,
): Promise<Map<string, RelatedItem[]>> {
  const placed = new Map<string, RelatedItem[]>()
  const wanted = toRank.filter((e) => entrants.has(e.slug))
  if (wanted.length === 0) return placed
  const read = await getRawValues(
    kv,
    wanted.map((e) => keys.related(e.slug)).filter((k) => !storedRelated.has(k)),
  )
  for (const entry of wanted) {
    const key = keys.related(entry.slug)
    const bytes = storedRelated.get(key) ?? read.get(key)
    if (!bytes || contentHash(bytes) !== entry.relatedHash) continue
    const stored = storedRanking(key, bytes)
    const entering = entrants.get(entry.slug) ?? []
    const list = stored && insertRelated(index, entry.slug, stored, entering, config)
    if (list) placed.set(entry.slug, list)
  }
  return placed
}

/**
 * The related floors the catalog holds, as ListFloor reports them, and their bound: the lowest
 * known floor, with the stories whose floor is unknown and `gone` (documents of the stored index
 * no longer published) open.
 */
function storedFloors(
  catalog: Map<string, CatalogEntry>,
  gone: Iterable<string>,
): { floorOf: ListFloor; bound: FloorBound } {
  const floorOf: ListFloor = (slug) => {
    const floor = catalog.get(slug)?.relatedFloor
    return floor === undefined || floor === null ? undefined : floor
  }
  let lowest = Number.POSITIVE_INFINITY
  const open = [...gone]
  for (const e of catalog.values()) {
    const floor = e.relatedFloor
    if (floor === undefined || floor === null) open.push(e.slug)
    else if (floor < lowest) lowest = floor
  }
  return { floorOf, bound: { lowest: Math.min(lowest, Number.MAX_VALUE), open } }
}

/**
 * The live lists of `needed` in the order they are ranked, the first `maxRank` now and the rest
 * deferred. Lists nobody has ranked yet go first, then the ones an earlier tick deferred, then
 * this tick's holders and entrants: ranking in plain slug order would pick the same first
 * maxRank slugs every tick and starve the rest.
 */
function rankOrder(
  needed: Set<string>,
  catalog: Map<string, CatalogEntry>,
  live: Live,
  cursor: JobCursor,
  maxRank: number,
): { toRank: CatalogEntry[]; deferred: string[] } {
  const waiting = new Set(cursor.relatedPending)
  const priority = (slug: string) =>
    catalog.get(slug)?.relatedHash === '' ? 0 : waiting.has(slug) ? 1 : 2
  const ordered = [...needed].sort((a, b) => priority(a) - priority(b) || (a < b ? -1 : 1))
  const toRank: CatalogEntry[] = []
  const deferred: string[] = []
  for (const slug of ordered) {
    const entry = catalog.get(slug)
    if (!entry || !live.has(slug)) continue
    if (toRank.length < maxRank) toRank.push(entry)
    else deferred.push(slug)
  }
  return { toRank, deferred }
}

/** What the stored index was built with: a change means building it again. */
function configHash(config: RelatedConfig): string {
  return contentHash(JSON.stringify([RELATED_ENGINE_VERSION, config]))
}

/** The basis of lists ranked against a stored index (its generation and settings). */
function streamedBasis(gen: string, config: string): string {
  return contentHash(['streamed', RELATED_ENGINE_VERSION, config, gen].join('\n'))
}

// At 1 to 2.5 ms a list at 100k articles, 100 lists a tick cost a quiet tick 0.1 to 0.25 s; a new
// build's statistics reach every list of 100k in 1,000 quiet ticks (ten days at 15 minutes).
// Lists no change reached keep the scores of the build they were ranked with meanwhile.
const RERANK_PER_TICK = 100

/** Share of the site the overlay may reach before the stored index is built again. */
const OVERLAY_SHARE = 0.02

interface StreamedInputs {
  state: JobState
  head: BaseHead
  meta: BaseMeta
  docs: BaseDocs
  published: CatalogEntry[]
  /** slugs of `published` */
  live: Live
  /** stories whose vectors this tick made (new or changed) */
  vectorized: string[]
  /** of those, the ones in their peers' lists before */
  listedBefore: Set<string>
  damaged: CatalogEntry[]
  /** stored bytes of the verification slice's related lists, read this tick */
  storedRelated: Map<string, string | null>
  cursor: JobCursor
  config: RelatedConfig
  limits: { maxRank: number }
  /** lists re-ranked per tick until all were ranked against this stored index */
  rerank: number
}

/**
 * The incremental related step against the stored index: brings the overlay up to date (every
 * published story the stored index lacks or holds in an older version), then streams the stored
 * parts at most twice. The first pass scores the old versions of what changed (the lists that
 * held them) and the new ones (the lists they enter); lists that only gain stories are placed
 * with its index, which also ranks what changed. The second builds the small index the other
 * lists to rank need (healing, re-ranking, lists that held a changed story), when there are any.
 * Corpus statistics stay those of the stored build until the next one.
 */
async function planStreamed(kv: KVNamespace, inp: StreamedInputs): Promise<RelatedPlan | null> {
  const { state, head, meta, docs, published, live } = inp
  const { catalog, corpus } = state
  const current = head.overlay?.gen === meta.gen ? head.overlay : null
  const old = current?.docs ?? {}
  const removedBase = docs.slugs.filter((slug) => !live.has(slug))
  // Stored documents no longer published whose lists the related step already found: an overlay
  // written before it kept them had found them all (the change step handed them over then).
  const goneBefore = new Set(current ? (current.gone ?? removedBase) : [])
  const overlay: Overlay = {
    version: 1,
    gen: meta.gen,
    docs: {},
    gone: removedBase,
    published: published.length,
  }
  const missing: string[] = []
  // Stories whose lists this tick ranks because they changed or were never ranked, found in the
  // same walk over every published story.
  const read = new Set(inp.vectorized)
  const upserts: CatalogEntry[] = []
  for (const e of published) {
    if (e.relatedHash === '' || read.has(e.slug)) upserts.push(e)
    const d = docs.position.get(e.slug)
    if (d !== undefined && docs.hashes[d] === e.hash) {
      // The catalog's copy of the hash stays, the table's goes: 100k strings fewer held at 100k
      // articles. The slugs are the position map's keys: looking each up in the catalog while
      // decoding, to share those too, took 25 to 36 ms of a tick.
      docs.hashes[d] = e.hash
      continue
    }
    const kept = old[e.slug]
    if (kept && kept.h === e.hash) overlay.docs[e.slug] = kept
    // A story whose vector is still to be made keeps its last indexed version meanwhile.
    else if (e.vectorStale) {
      if (kept) overlay.docs[e.slug] = kept
    } else missing.push(e.slug)
  }
  const unloaded = missing.filter((slug) => !corpus.has(slug))
  if (unloaded.length > 0) await ensureCorpus(kv, state, unloaded.map(shardOf))
  for (const slug of missing) {
    const v = corpus.get(slug) as DocVector | undefined
    const entry = catalog.get(slug)
    if (v && entry) overlay.docs[slug] = { h: entry.hash, v }
  }
  // Old versions of changed overlay stories are scored in the first pass, with what they shared:
  // those of the stories whose vectors were made again, and of those that left the site (or went
  // back under embargo) since the last related step, found here rather than handed over, so that
  // a save lost by overlapping invocations loses none.
  const oldBase: number[] = []
  const oldDocs: OverlayDoc[] = []
  const holders = new Set(inp.listedBefore)
  for (const slug of removedBase) if (!goneBefore.has(slug)) holders.add(slug)
  for (const slug in old) if (!live.has(slug)) holders.add(slug)
  for (const slug of holders) {
    const prev = old[slug]
    if (prev) oldDocs.push(prev)
    else {
      const d = docs.position.get(slug)
      if (d !== undefined) oldBase.push(d)
    }
  }
  // The base's one-document terms that newcomers to the overlay share: read once, kept with them.
  // The build weighs the stories it carries into a new generation (weighAdded).
  const newcomers = [...Object.values(overlay.docs), ...oldDocs].filter((o) => !o.r)
  const hits = await findRareHits(
    meta,
    docs,
    newcomers.map((o) => o.v),
    baseRareReader(kv, meta),
  )
  newcomers.forEach((o, i) => {
    o.r = hits[i]
  })
  const plan = await streamedPasses(kv, inp, overlay, upserts, oldBase, oldDocs, removedBase)
  // Saved once the passes found the scales of the stories that joined it.
  await saveOverlay(kv, head, overlay)
  return plan
}

/**
 * The passes of planStreamed over the stored parts. Overlay stories join each pass's index as
 * candidates only (updateIndex's `scales`) unless the pass ranks their lists or has no scale
 * for them yet, so a pass requests the terms of those alone: late in a build under a steady
 * load (2,600 overlay stories at 100k articles) a pass kept 18 times the terms a +100 tick's
 * stories need, and their postings (updateIndex).
 */
async function streamedPasses(
  kv: KVNamespace,
  inp: StreamedInputs,
  overlay: Overlay,
  upserts: CatalogEntry[],
  oldBase: number[],
  oldDocs: OverlayDoc[],
  removedBase: string[],
): Promise<RelatedPlan | null> {
  const { meta, docs, published, live, cursor, config } = inp
  const { catalog } = inp.state
  const overlayVectors = Object.values(overlay.docs).map((o) => o.v)
  // Each pass reads the parts again, one at a time, rather than holding them between the passes:
  // at 100k articles they are 37 MB of array buffers, on top of a busy tick's heap at its peak.
  const readPart = basePartReader(kv, meta)
  const { floorOf, bound } = storedFloors(catalog, removedBase)
  const baseQuery = (slug: string) => (overlay.docs[slug] ? undefined : docs.position.get(slug))
  // Every stored hit of every overlay story, candidates too: a base document's term that only
  // one base document holds is in no part, so a base query holds it only when a hit names it.
  // A superset of what a pass needs changes no score.
  const rare = mergeRareHits([...Object.values(overlay.docs), ...oldDocs].map((o) => o.r ?? []))
  // An index for the given queries: the base documents' found by scanning the parts, the overlay
  // stories' (and those without a scale yet) with every term requested, and `old`'s.
  const assemble = async (baseQueries: Set<number>, queried: Set<string>, old: OverlayDoc[]) => {
    const scales = new Map<string, number>()
    const whole: OverlayDoc[] = [...old]
    for (const slug in overlay.docs) {
      const o = overlay.docs[slug] as OverlayDoc
      const known = typeof o.s === 'number' && Number.isFinite(o.s) && o.s >= 0
      if (known && !queried.has(slug)) scales.set(slug, o.s as number)
      else whole.push(o)
    }
    const index = await assembleIndex(meta, docs, config, {
      queries: baseQueries,
      terms: termsOf(whole.map((o) => o.v)),
      rare,
      readPart,
    })
    updateIndex(index, overlayVectors, removedBase, scales)
    for (const slug in overlay.docs) {
      const o = overlay.docs[slug] as OverlayDoc
      if (scales.has(slug)) continue
      const added = index.added.get(index.position.get(slug) as number)
      if (added) o.s = added.scale
    }
    return { index, requested: (slug: string) => !scales.has(slug) }
  }

  // Pass 1: which lists the changes reach.
  const oldVectors: DocVector[] = oldDocs.map((o) => ({
    ...o.v,
    slug: `${OLD_VERSION}${o.v.slug}`,
  }))
  let needed = new Set<string>(cursor.relatedPending)
  let entrants = new Map<string, RelatedItem[]>()
  let scored: ScoredQueries | undefined
  let first: RelatedIndex | null = null
  let firstRequested: (slug: string) => boolean = () => false
  const firstQueries = new Set(oldBase)
  if (upserts.length > 0 || oldBase.length > 0 || oldVectors.length > 0) {
    // The lists known to need ranking before the pass (deferred by an earlier tick's cap or
    // write budget, damaged) are queried in it too, so it ranks them instead of a second pass
    // that streams every part again. Busy ticks at 100k after ticks that ran out of writes took
    // 1.4 to 1.7 s of Worker CPU with that pass, 1.0 to 1.1 s without. More queries change no
    // score (assembleIndex).
    const known = [...upserts, ...inp.damaged].map((e) => e.slug)
    const queried = new Set<string>()
    for (const slug of [...known, ...cursor.relatedPending.slice(0, inp.limits.maxRank)]) {
      const d = baseQuery(slug)
      if (d !== undefined) firstQueries.add(d)
      else queried.add(slug)
    }
    const { index, requested } = await assemble(firstQueries, queried, oldDocs)
    first = index
    firstRequested = requested
    ;({ needed, entrants, scored } = reachedLists(
      index,
      oldBase,
      oldVectors,
      upserts,
      cursor,
      floorOf,
      bound,
      config,
    ))
  }

  // Pass 2: the lists to rank, in rankOrder's order.
  for (const e of inp.damaged) {
    needed.add(e.slug)
    entrants.delete(e.slug)
  }
  const { toRank, deferred } = rankOrder(needed, catalog, live, cursor, inp.limits.maxRank)
  // Until every list was ranked against this stored index, a slice of them is re-ranked too. It
  // fills what the tick's own lists leave of `rerank`: a busy tick (706 lists for 100 new stories
  // at 100k) leaves the slice to quieter ticks instead of adding to its ranking.
  if (cursor.relatedVerified < published.length) {
    const start = cursor.rerankOffset % Math.max(1, published.length)
    const size = Math.min(Math.max(0, inp.rerank - toRank.length), published.length)
    let taken = 0
    for (; taken < size && toRank.length < inp.limits.maxRank; taken++) {
      const entry = published[(start + taken) % published.length] as CatalogEntry
      if (!needed.has(entry.slug)) toRank.push(entry)
    }
    cursor.rerankOffset = (start + taken) % Math.max(1, published.length)
    cursor.relatedVerified += taken
  }
  if (toRank.length === 0) return deferred.length > 0 ? { index: null, toRank, deferred } : null
  // Lists that only gain stories are placed with the first pass's index (it knows every
  // document's position and sketch); it also ranks documents added since the build and the base
  // documents it was asked for. Only other base documents need the second pass.
  const placed = first
    ? await placeEntrants(kv, first, toRank, entrants, inp.storedRelated, config)
    : new Map<string, RelatedItem[]>()
  const queries = new Set<number>()
  const queried = new Set<string>()
  for (const e of toRank) {
    if (placed.has(e.slug)) continue
    const d = baseQuery(e.slug)
    if (d !== undefined) queries.add(d)
    else if (overlay.docs[e.slug]) queried.add(e.slug)
  }
  if (
    first &&
    [...queries].every((d) => firstQueries.has(d)) &&
    [...queried].every(firstRequested)
  ) {
    return { index: first, toRank, deferred, placed, scored }
  }
  // An overlay story the first pass did not ask for (it held an old version, or placing it
  // failed) needs its terms streamed too: in a tick that edits or removes stories the base's
  // holders need this pass already. In the bench's busy ticks every placed list settled.
  // The first pass's index is done with: a variable lives until its function returns, so let it
  // go before building the second.
  first = null
  const { index } = await assemble(queries, queried, [])
  return { index, toRank, deferred, placed }
}

function vectorsOf(entries: Iterable<CatalogEntry>, corpus: Map<string, unknown>): DocVector[] {
  const out: DocVector[] = []
  for (const e of entries) {
    const v = corpus.get(e.slug) as DocVector | undefined
    if (v) out.push(v)
  }
  return out
}

// Every list, from an index of the whole published corpus.
function planFull(
  published: CatalogEntry[],
  corpus: Map<string, unknown>,
  config: RelatedConfig,
): RelatedPlan {
  return {
    index: buildIndex(vectorsOf(published, corpus), config),
    toRank: published,
    deferred: [],
  }
}

/**
 * Only the lists a change can reach. The index is the whole published corpus, as a full rebuild
 * would build it, so every list ranked is ranked exactly as there. The old versions of changed
 * stories join it for a moment under private slugs: the lists that held them are the peers
 * whose floor their old scores reach. The lists the new versions enter are found the same way.
 * Lists deferred earlier and the verification slice (the sliced full re-rank, which heals lists
 * ranked against older corpus statistics) are ranked too, up to `maxRank`. Lists that only
 * gain stories are placed, as on the streamed path.
 */
async function planIncremental(
  kv: KVNamespace,
  storedRelated: Map<string, string | null>,
  published: CatalogEntry[],
  live: Live,
  catalog: Map<string, CatalogEntry>,
  corpus: Map<string, unknown>,
  before: Map<string, { vector: DocVector; listed: boolean }>,
  verify: CatalogEntry[],
  cursor: JobCursor,
  config: RelatedConfig,
  limits: { maxRank: number },
): Promise<RelatedPlan> {
  const index = buildIndex(vectorsOf(published, corpus), config)
  const old: DocVector[] = []
  for (const [slug, { vector, listed }] of before) {
    if (listed) old.push({ ...vector, slug: `${OLD_VERSION}${slug}` })
  }
  // Changed stories, and stories without a list yet (new, or just out of embargo).
  const upserts = published.filter((e) => before.has(e.slug) || e.relatedHash === '')
  // The index holds the published stories only: none of its documents is gone.
  const { floorOf, bound } = storedFloors(catalog, [])
  const { needed, entrants, scored } = reachedLists(
    index,
    [],
    old,
    upserts,
    cursor,
    floorOf,
    bound,
    config,
  )
  const { toRank, deferred } = rankOrder(needed, catalog, live, cursor, limits.maxRank)
  // The slice only uses what capacity is left: it comes round again on a later pass.
  for (const entry of verify) {
    if (toRank.length >= limits.maxRank) break
    if (!needed.has(entry.slug)) toRank.push(entry)
  }
  const placed = await placeEntrants(kv, index, toRank, entrants, storedRelated, config)
  return { index, toRank, deferred, placed, scored }
}

// Floors are rounded so float noise does not rewrite catalog shards; null: the list is not full.
function storedFloor(floor: number): number | null {
  return Number.isFinite(floor) ? Number(floor.toPrecision(6)) : null
}

/**
 * The stored related list of a ranking: each story's title and date for the page, and with
 * `scores` each story's score (rounded: enough digits to place a new story among them, none of the
 * noise) for later incremental ticks.
 * Its source hashes each story's slug and stored-bytes hash (which cover its title and date), as
 * the story lists' do: shorter than the items' JSON, and a tick hashes hundreds of lists.
 */
export function relatedListValue(
  ranked: ReadonlyArray<RelatedItem>,
  catalog: ReadonlyMap<string, { title: string; publishedAt: string; hash: string }>,
  scores: boolean,
): RelatedList {
  const items: RelatedList['items'] = []
  const kept: number[] = []
  // The hash of each story's `slug hash` line, fed in pieces rather than joined.
  const source = new ContentHasher()
  for (const { slug, score } of ranked) {
    const peer = catalog.get(slug)
    if (!peer) continue
    items.push({ slug, title: peer.title, publishedAt: peer.publishedAt })
    kept.push(Number(score.toPrecision(8)))
    source.add(slug).add(' ').add(peer.hash).add('\n')
  }
  const list: RelatedList = { version: 1, source: source.digest(), items }
  if (scores) list.scores = kept
  return list
}

/** A stored related list as the ranking it was written from; null when it cannot say. */
function storedRanking(key: string, bytes: string | null | undefined): RelatedItem[] | null {
  try {
    const list = decodeRelatedList(key, bytes)
    const scores = list?.scores
    if (!list || !scores || scores.length !== list.items.length) return null
    return list.items.map((item, i) => ({ slug: item.slug, score: scores[i] as number }))
  } catch {
    return null
  }
}

/** Most stories the overlay may hold before the stored index is built again. */
function overlayBound(options: RefreshOptions, catalogSize: number): number {
  return options.maxOverlay ?? Math.max(200, Math.floor(catalogSize * OVERLAY_SHARE))
}

/** Stories in the overlay of the stored index (infinite: none for its generation). */
function overlaySizeOf({ meta, overlay }: BaseHead): number {
  return meta && overlay?.gen === meta.gen
    ? Object.keys(overlay.docs).length
    : Number.POSITIVE_INFINITY
}

/**
 * Whether a site that builds its stored index in slices can rank against the stored one, and
 * whether a build is due: that index unusable, or its overlay and the stories whose vectors
 * wait to join it past half the overlay's bound.
 */
function buildDue(
  head: BaseHead,
  baseConfig: string,
  broken: string | undefined,
  waiting: number,
  maxOverlay: number,
): { baseUsable: boolean; wantBuild: boolean } {
  const { meta } = head
  const baseUsable = !!meta && meta.configHash === baseConfig && broken !== meta.gen
  return { baseUsable, wantBuild: !baseUsable || overlaySizeOf(head) + waiting > maxOverlay / 2 }
}

/**
 * The build's own invocation (RELATED_BUILD_CRON) when no build is under way, none is due and
 * nothing is left to sweep: it knows that from the cursor (the catalog's counts, which every
 * invocation that loads the catalog saves) and the stored index's head, without loading the
 * catalog, which at 100k articles, with ordering it, was 153 to 372 ms of its Worker CPU in the
 * ticks without a build of two bench runs (0 to 4 ms since). Null when it has work or the cursor
 * cannot tell: it then runs whole.
 */
async function idleBuild(
  kv: KVNamespace,
  options: RefreshOptions,
  baseConfig: string,
): Promise<{ articles: number } | null> {
  const loaded = await getMany(kv, [keys.jobState, keys.status])
  const cursor = parseJobCursor(loaded.get(keys.jobState))
  if (!cursor || cursor.rebuilding || cursor.relatedBuild || cursor.relatedSweep) return null
  const { catalogSize, vectorsWaiting } = cursor
  if (catalogSize === undefined || vectorsWaiting === undefined) return null
  const articles = safeParse<RefreshStatus>(loaded.get(keys.status))?.articles ?? 0
  const large = catalogSize > (options.incrementalAbove ?? INCREMENTAL_ABOVE)
  // A smaller site builds its index whole, in the related part: nothing here.
  if (!large || catalogSize <= (options.slicedAbove ?? SLICED_ABOVE)) return { articles }
  const head = await loadBaseHead(kv)
  const due = buildDue(
    head,
    baseConfig,
    undefined,
    vectorsWaiting,
    overlayBound(options, catalogSize),
  )
  return due.wantBuild ? null : { articles }
}

/**
 * The documents' own invocation (DOCUMENTS_CRON) when the last one left nothing to do
 * (cursor.documentsQuiet) and nothing since can change a document: the same settings, the same
 * catalog (the delta's stamp), every document it planned still stored, and no embargo, month or
 * News sitemap window ended. At 100k articles loading the catalog, ordering and grouping it
 * took about 270 ms of such an invocation's 301 ms with nothing to write (bench run 12 of
 * 2026-11-28). Null when it may have work: it then runs whole.
 */
async function idleDocuments(
  kv: KVNamespace,
  site: SiteConfig,
  now: string,
): Promise<{ articles: number } | null> {
  const loaded = await getMany(kv, [keys.jobState, keys.status, keys.jobDelta])
  const cursor = parseJobCursor(loaded.get(keys.jobState))
  const quiet = cursor?.documentsQuiet
  if (!cursor || !quiet || cursor.rebuilding || cursor.documentsPending.length > 0) return null
  if (!(Date.parse(now) < Date.parse(quiet.until))) return null
  const stamp = deltaStamp(loaded.get(keys.jobDelta))
  if (stamp === null || quietKey(site, stamp) !== quiet.key) return null
  if (pathsHash((await listDocumentMetas(kv)).keys()) !== quiet.paths) return null
  return { articles: safeParse<RefreshStatus>(loaded.get(keys.status))?.articles ?? 0 }
}

/**
 * What every stored document depends on besides the catalog and the time: the documents' basis
 * and the documents invocation's early return (quietKey) both hash it, so a setting added here
 * counts for both.
 */
function documentSettings(site: SiteConfig): unknown[] {
  return [
    FEED_FORMAT_VERSION,
    SITEMAP_FORMAT_VERSION,
    feedSite(site),
    site.feedItems,
    site.cronIntervalMinutes,
  ]
}

/** The document settings with the catalog's stamp. */
function quietKey(site: SiteConfig, stamp: string): string {
  return contentHash(JSON.stringify([...documentSettings(site), stamp]))
}

/** A hash of a set of document paths, in any order. */
function pathsHash(paths: Iterable<string>): string {
  return contentHash([...paths].sort().join('\n'))
}

/**
 * When the documents planned at `now` from the same catalog may first differ: a story's embargo
 * ends (`embargoed`: those not yet published), a month begins (the archives' months), or the
 * News sitemap loses a story to its window (`published`, newest first).
 */
function documentsChangeAt(
  published: readonly CatalogEntry[],
  embargoed: readonly CatalogEntry[],
  now: string,
): string {
  const at = new Date(now)
  let first = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)
  for (const e of embargoed) first = Math.min(first, utcMillis(e.publishedAt))
  const news = newsWindowEnds(published, now)
  if (news !== null) first = Math.min(first, utcMillis(news))
  // A time that does not parse (none should) ends it at once: the next invocation runs whole.
  return Number.isNaN(first) ? now : new Date(first).toISOString()
}

/** A report of an invocation that found nothing to do, before its KV counts. */
function quietReport(): Omit<RefreshReport, keyof KvCounts> {
  return {
    articles: 0,
    changed: 0,
    removed: 0,
    vectorized: 0,
    listsWritten: 0,
    listsSound: 0,
    relatedWritten: 0,
    relatedRanked: 0,
    relatedPlaced: 0,
    relatedBuildSlices: 0,
    documentsCompared: 0,
    documentsWritten: 0,
    pending: 0,
    fullPassComplete: false,
    errors: [],
    timings: {},
  }
}

/** Writes the status only when the tick did something (D4: zero writes when nothing changed). */
async function saveStatus(
  kv: KVNamespace,
  previous: string | null,
  report: RefreshReport,
  now: string,
) {
  const prev = safeParse<RefreshStatus>(previous)
  const didWork = report.writes > 0 || report.deletes > 0
  if (!didWork && prev && prev.pending === report.pending && prev.articles === report.articles)
    return
  const status: RefreshStatus = {
    version: 1,
    tickAt: now,
    articles: report.articles,
    pending: report.pending,
    writes: report.writes + 1,
    deletes: report.deletes,
    reads: report.reads,
    lists: report.lists,
    fullPassComplete: report.fullPassComplete,
  }
  await kv.put(keys.status, encodeValue(status))
}
