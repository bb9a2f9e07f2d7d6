// The refresh job's document step: render the groups whose source changed, store both codings
// with HTTP metadata, and delete documents no group produces any more. Returns the subscription
// URLs that changed, for the WebSub ping.
import type { Article } from '../model/article'
import { getArticleContents } from '../storage/articles'
import {
  type DocumentMeta,
  deleteDocument,
  encodeDocument,
  listDocumentMetas,
  putDocument,
} from '../storage/documents'
import type { DocumentGroup } from './plan-feeds'

export interface DocumentStepResult {
  /** groups whose source was compared with their stored documents' */
  compared: number
  written: number
  deleted: number
  deferred: number
  /** tags of the groups the write budget left (compared again next tick) */
  deferredTags: string[]
  /** site paths of subscription documents whose bytes changed */
  changedSubscriptions: string[]
}

/** `modified` for new bytes: the tick's time, but always after the previous value (D7). */
function nextModified(now: string, previous?: DocumentMeta): string {
  const at = Math.floor(Date.parse(now) / 1000) * 1000
  const floor = previous ? Math.floor(Date.parse(previous.modified) / 1000) * 1000 + 1000 : 0
  return new Date(Math.max(at, floor)).toISOString()
}

/**
 * Identity bytes of documents one tick renders at most (the first group it renders always goes).
 * Rendering and compressing are most of a busy tick's document step: at 100k articles, 100 new
 * stories changed 65 documents, 13.5 MB (the 20 theme feeds of 50 full stories each), which took
 * 0.66 s of the Worker's CPU in a profile, 0.22 s of it gzip. Past this the groups wait for the
 * next tick, first in line, as those the write budget leaves do.
 */
export const DOCUMENT_BYTES_PER_TICK = 4 * 2 ** 20

/**
 * Brings the stored documents in line with the planned groups, within the write budget and
 * `maxBytes`. With `reach`, a group whose documents are all stored is compared only when `reach`
 * accepts its tags (a large site's tick hashes only what its changes can reach; missing documents
 * always heal). Groups `first` accepts (those an earlier tick left) are rendered before the others.
 */
export async function refreshDocuments(
  kv: KVNamespace,
  groups: DocumentGroup[],
  now: string,
  writesLeft: () => number,
  reach?: (tags: readonly string[]) => boolean,
  options: { maxBytes?: number; first?: (tags: readonly string[]) => boolean } = {},
): Promise<DocumentStepResult> {
  const metas = await listDocumentMetas(kv)
  let compared = 0
  const changed = groups.filter((g) => {
    const stored = g.documents.every((d) => metas.has(d.path))
    if (stored && reach && g.tags.length > 0 && !reach(g.tags)) return false
    compared++
    return g.documents.some((d) => metas.get(d.path)?.src !== g.src)
  })
  const { first } = options
  const stale = first
    ? [...changed.filter((g) => first(g.tags)), ...changed.filter((g) => !first(g.tags))]
    : changed
  const result: DocumentStepResult = {
    compared,
    written: 0,
    deleted: 0,
    deferred: 0,
    deferredTags: [],
    changedSubscriptions: [],
  }
  // A group this tick leaves (write budget, byte cap) is compared again, and rendered first, next.
  const leave = (g: DocumentGroup) => {
    result.deferred += g.documents.length
    result.deferredTags.push(...g.tags)
  }

  // The groups the write budget lets this tick store (each document is two writes, one a coding).
  const fit: DocumentGroup[] = []
  let budget = writesLeft()
  for (const g of stale) {
    if (budget < g.documents.length * 2) {
      leave(g)
      continue
    }
    budget -= g.documents.length * 2
    fit.push(g)
  }

  // Articles are read group by group, as the byte cap lets each be rendered, and each once (a
  // story is in the site's feed, its themes' and its month's). Read for every group that fit, the
  // bench's +100 tick at 100k read the 1,000 stories of 20 theme feeds to render 7 of them, and
  // collecting their records took 43 ms of garbage collection in a profile.
  const articles = new Map<string, Article>()
  const read = new Set<string>()
  const maxBytes = options.maxBytes ?? DOCUMENT_BYTES_PER_TICK
  let renderedBytes = 0
  for (const g of fit) {
    if (renderedBytes >= maxBytes) {
      leave(g)
      continue
    }
    const unread = [...new Set(g.slugs.filter((slug) => !read.has(slug)))]
    for (const [slug, stored] of unread.length > 0 ? await getArticleContents(kv, unread) : []) {
      if (stored.state === 'live') articles.set(slug, stored.article)
    }
    for (const slug of unread) read.add(slug)
    const rendered = g.render(articles)
    for (const doc of g.documents) {
      const { bytes, etag } = await encodeDocument(rendered.get(doc.path) ?? '')
      renderedBytes += bytes.byteLength
      const previous = metas.get(doc.path)
      const sameBytes = previous?.etag === etag
      await putDocument(kv, doc.path, bytes, {
        src: g.src,
        etag,
        modified: sameBytes && previous ? previous.modified : nextModified(now, previous),
        type: doc.type,
        cacheControl: g.cacheControl,
      })
      result.written++
      if (!sameBytes && g.subscription) result.changedSubscriptions.push(doc.path)
    }
  }

  const planned = new Set(groups.flatMap((g) => g.documents.map((d) => d.path)))
  for (const path of metas.keys()) {
    if (planned.has(path)) continue
    if (writesLeft() < 2) {
      result.deferred++
      continue
    }
    await deleteDocument(kv, path)
    result.deleted++
  }
  return result
}
