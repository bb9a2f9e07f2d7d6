// Article records and their change markers: the only keys a publish writes (D1). Everything
// shared is derived from these by the refresh job.
import { type Article, type FieldError, parseStoredArticle } from '../model/article'
import { getMany } from './bulk-get'
import { contentHash } from './content-hash'
import { isolateCache } from './isolate-cache'
import { keys, slugOfArticleKey, slugOfChangeKey } from './keys'

/** Metadata stored beside each article, so a key listing reveals changes without reading values. */
export interface ArticleKeyMeta {
  /** content hash of the stored JSON */
  h: string
}

/** A KV entry as written: used by local writes and by the remote bulk import alike. */
export interface KvEntry {
  key: string
  value: string
  metadata?: ArticleKeyMeta
}

/** How an article key reads back. A deleted article leaves a tombstone, so its URL answers 410. */
export type StoredArticle =
  | { state: 'missing' }
  | { state: 'live'; article: Article }
  | { state: 'gone'; slug: string; id: string; deletedAt: string }
  | { state: 'corrupt'; errors: FieldError[] }

interface Tombstone {
  deleted: true
  slug: string
  id: string
  deletedAt: string
}

/**
 * The KV entries of one publish: a change marker for the refresh job, then the article record.
 * The marker goes first: if the record write then fails, a marker for an unchanged article is
 * harmless, while a record without a marker would wait for the next full pass.
 */
export function articleEntries(article: Article | Tombstone, stamp: string): KvEntry[] {
  const value = JSON.stringify(article)
  return [
    { key: keys.change(article.slug, stamp), value: '' },
    { key: keys.article(article.slug), value, metadata: { h: contentHash(value) } },
  ]
}

async function putEntries(kv: KVNamespace, entries: KvEntry[]) {
  for (const entry of entries) {
    await kv.put(entry.key, entry.value, entry.metadata ? { metadata: entry.metadata } : {})
    // The page of a write is current at once in the isolate that served it (D2).
    isolateCache.delete(entry.key)
  }
}

/** Writes one article and its change marker (2 KV writes; nothing shared). */
export async function putArticle(kv: KVNamespace, article: Article, stamp: string): Promise<void> {
  await putEntries(kv, articleEntries(article, stamp))
}

/** Replaces an article with a tombstone (2 KV writes): its URLs answer 410, the job drops it. */
export async function putTombstone(
  kv: KVNamespace,
  article: Pick<Article, 'slug' | 'id'>,
  deletedAt: string,
  stamp: string,
): Promise<void> {
  const tombstone: Tombstone = { deleted: true, slug: article.slug, id: article.id, deletedAt }
  await putEntries(kv, articleEntries(tombstone, stamp))
}

/** The ETag of an article record: the hash of its stored bytes (If-Match compares it). */
export function recordEtag(text: string): string {
  return `"${contentHash(text)}"`
}

/** Parses an article record's text as read from KV. */
export function parseRecord(text: string | null | undefined): StoredArticle {
  if (text == null) return { state: 'missing' }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    return {
      state: 'corrupt',
      errors: [{ field: '(record)', message: `not JSON: ${String(error)}` }],
    }
  }
  const t = raw as Partial<Tombstone>
  if (t && t.deleted === true && typeof t.slug === 'string' && typeof t.id === 'string') {
    return { state: 'gone', slug: t.slug, id: t.id, deletedAt: String(t.deletedAt) }
  }
  const parsed = parseStoredArticle(raw)
  return parsed.ok
    ? { state: 'live', article: parsed.value }
    : { state: 'corrupt', errors: parsed.errors }
}

/** An article as read back, with the content hash of its stored bytes. */
export interface ArticleRecord {
  stored: StoredArticle
  hash: string | null
}

// Many article records' text by slug, 100 keys per binding call (split further past 25 MB).
async function articleTexts(kv: KVNamespace, slugs: readonly string[]) {
  const values = await getMany(
    kv,
    slugs.map((s) => keys.article(s)),
  )
  return (slug: string) => values.get(keys.article(slug)) ?? null
}

/** Reads many articles with the content hash of each record's bytes. */
export async function getArticles(
  kv: KVNamespace,
  slugs: readonly string[],
): Promise<Map<string, ArticleRecord>> {
  const textOf = await articleTexts(kv, slugs)
  const out = new Map<string, ArticleRecord>()
  for (const slug of slugs) {
    const text = textOf(slug)
    out.set(slug, { stored: parseRecord(text), hash: text === null ? null : contentHash(text) })
  }
  return out
}

/**
 * Reads many articles without hashing their bytes: for rendering, which needs only their content
 * (a +100 tick at 100k articles reads 375 for the feeds it renders, 1.5 MB).
 */
export async function getArticleContents(
  kv: KVNamespace,
  slugs: readonly string[],
): Promise<Map<string, StoredArticle>> {
  const textOf = await articleTexts(kv, slugs)
  return new Map(slugs.map((slug) => [slug, parseRecord(textOf(slug))]))
}

/** Reads one article. */
export async function getArticle(kv: KVNamespace, slug: string): Promise<StoredArticle> {
  return parseRecord(await kv.get(keys.article(slug), 'text'))
}

/** Reads one article with its stored text (for ETags). */
export async function getArticleRecord(
  kv: KVNamespace,
  slug: string,
): Promise<{ stored: StoredArticle; text: string | null }> {
  const text = await kv.get(keys.article(slug), 'text')
  return { stored: parseRecord(text), text }
}

/** One page of the article key listing, with each key's content hash from its metadata. */
export interface ArticleListingPage {
  entries: Array<{ slug: string; hash: string | null }>
  cursor: string | null
}

/** Lists article keys (one list() call); only the refresh job and the export use it. */
export async function listArticleKeys(
  kv: KVNamespace,
  cursor: string | null,
  limit = 1000,
): Promise<ArticleListingPage> {
  const page = await kv.list<ArticleKeyMeta>({ prefix: keys.articlePrefix, cursor, limit })
  const entries = page.keys.flatMap((k) => {
    const slug = slugOfArticleKey(k.name)
    return slug ? [{ slug, hash: k.metadata?.h ?? null }] : []
  })
  return { entries, cursor: page.list_complete ? null : page.cursor }
}

/** Pending change markers (one list() call): which slugs changed since the last tick. */
export async function listChangeMarkers(
  kv: KVNamespace,
  limit = 1000,
): Promise<{ keys: string[]; slugs: string[]; more: boolean }> {
  const page = await kv.list({ prefix: keys.changePrefix, limit })
  const names = page.keys.map((k) => k.name)
  const slugs = [...new Set(names.map(slugOfChangeKey).filter((s): s is string => s !== null))]
  return { keys: names, slugs, more: !page.list_complete }
}

/** Deletes processed change markers. */
export async function deleteChangeMarkers(kv: KVNamespace, markerKeys: readonly string[]) {
  for (const key of markerKeys) await kv.delete(key)
}
