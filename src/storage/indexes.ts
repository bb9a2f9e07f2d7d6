// Derived values (story lists, theme index, related lists, status): written whole by the refresh
// job only (D1), each carrying its own version and source hash (D3), validated when read back.
import * as z from 'zod/mini'
import { parseRecord, type StoredArticle } from './articles'
import { getMany } from './bulk-get'
import { ARTICLE_TTL_MS, decodedBytes, isolateCache, LIST_TTL_MS } from './isolate-cache'
import { keys } from './keys'

const theme = z.object({ slug: z.string(), name: z.string() })

const listItem = z.object({
  slug: z.string(),
  title: z.string(),
  summary: z.string(),
  publishedAt: z.string(),
  themes: z.array(theme),
})

const storyList = z.object({
  version: z.literal(1),
  source: z.string(),
  total: z.int(),
  items: z.array(listItem),
  theme: z.optional(theme),
  month: z.optional(z.string()),
  /** months with stories, newest first: links to the archive pages */
  months: z.array(z.string()),
})

const themeIndex = z.object({
  version: z.literal(1),
  source: z.string(),
  themes: z.array(z.object({ slug: z.string(), name: z.string(), count: z.int() })),
})

const relatedList = z.object({
  version: z.literal(1),
  source: z.string(),
  items: z.array(z.object({ slug: z.string(), title: z.string(), publishedAt: z.string() })),
  // Each item's score, rounded as the job stores floors: the job places a new story among them
  // instead of ranking the list again. Readers never show it.
  scores: z.optional(z.array(z.number())),
})

const refreshStatus = z.object({
  version: z.literal(1),
  tickAt: z.string(),
  articles: z.int(),
  pending: z.int(),
  writes: z.int(),
  deletes: z.int(),
  reads: z.int(),
  lists: z.int(),
  fullPassComplete: z.boolean(),
})

export type ListItem = z.output<typeof listItem>
export type StoryList = z.output<typeof storyList>
export type ThemeIndex = z.output<typeof themeIndex>
export type RelatedList = z.output<typeof relatedList>
export type RefreshStatus = z.output<typeof refreshStatus>

/** A derived value that is present but unreadable: a bug or a corrupt write; the URL answers 500. */
export class CorruptValueError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`corrupt KV value at ${key}: ${detail}`)
  }
}

function decode<T>(schema: z.ZodMiniType<T>, key: string, text: string | null | undefined) {
  if (text == null) return null
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new CorruptValueError(key, 'not JSON')
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success)
    throw new CorruptValueError(key, parsed.error.issues[0]?.message ?? 'invalid')
  return parsed.data
}

interface CachedRead {
  key: string
  ttlMs: number
  decode: (text: string | null | undefined) => unknown
}

/**
 * Reads keys through the isolate cache: live entries from memory, the rest in one binding call
 * (none when all are cached). Each result is a thunk, so a corrupt value throws where it is used
 * and is never cached.
 */
async function readThrough(kv: KVNamespace, reads: CachedRead[]): Promise<Array<() => unknown>> {
  const hits = reads.map((r) => isolateCache.get<unknown>(r.key))
  const missing = reads.filter((_, i) => !hits[i]).map((r) => r.key)
  const values = missing.length > 0 ? await kv.get(missing, 'text') : null
  return reads.map((r, i) => {
    const hit = hits[i]
    if (hit) return () => hit.value
    const text = values?.get(r.key)
    try {
      const value = r.decode(text)
      isolateCache.set(r.key, value, decodedBytes(r.key, text), r.ttlMs)
      return () => value
    } catch (error) {
      return () => {
        throw error
      }
    }
  })
}

/** A list page's data: the list and the theme index, in at most one binding call (D3). */
export async function getStoryList(
  kv: KVNamespace,
  listKey: string,
): Promise<{ list: StoryList | null; themes: ThemeIndex | null }> {
  const [list, themes] = await readThrough(kv, [
    { key: listKey, ttlMs: LIST_TTL_MS, decode: (t) => decode(storyList, listKey, t) },
    { key: keys.themes, ttlMs: LIST_TTL_MS, decode: (t) => decode(themeIndex, keys.themes, t) },
  ])
  return {
    list: (list as () => StoryList | null)(),
    themes: (themes as () => ThemeIndex | null)(),
  }
}

/** An article record as read: its text (for the ETag) and what it parses to. */
export interface ArticleRead {
  text: string | null
  stored: StoredArticle
}

/** Reads an article record, its related list and the theme index in one binding call. */
export async function getArticleWithRelated(
  kv: KVNamespace,
  slug: string,
): Promise<{ record: ArticleRead; related: RelatedList | null; themes: ThemeIndex | null }> {
  const relatedKey = keys.related(slug)
  const [article, related, themes] = await readThrough(kv, [
    {
      key: keys.article(slug),
      ttlMs: ARTICLE_TTL_MS,
      // Parsed once per cache entry: the same object comes back while it lives.
      decode: (t): ArticleRead => ({ text: t ?? null, stored: parseRecord(t) }),
    },
    { key: relatedKey, ttlMs: LIST_TTL_MS, decode: (t) => decode(relatedList, relatedKey, t) },
    { key: keys.themes, ttlMs: LIST_TTL_MS, decode: (t) => decode(themeIndex, keys.themes, t) },
  ])
  // A broken related list or theme index must not take the article down: the page shows
  // without them and the next refresh tick rewrites them.
  const tolerant = <T>(read: () => T | null): T | null => {
    try {
      return read()
    } catch (error) {
      console.error(String(error))
      return null
    }
  }
  return {
    record: (article as () => ArticleRead)(),
    related: tolerant(related as () => RelatedList | null),
    themes: tolerant(themes as () => ThemeIndex | null),
  }
}

/** A stored related list as the job reads it back; a corrupt one throws CorruptValueError. */
export function decodeRelatedList(key: string, text: string | null | undefined) {
  return decode(relatedList, key, text)
}

/** The status the last refresh tick wrote. */
export async function getStatus(kv: KVNamespace): Promise<RefreshStatus | null> {
  return decode(refreshStatus, keys.status, await kv.get(keys.status, 'text'))
}

/** Serialises a derived value exactly as stored (the job compares these bytes to skip writes). */
export function encodeValue(value: StoryList | ThemeIndex | RelatedList | RefreshStatus): string {
  return JSON.stringify(value)
}

/** Reads raw stored bytes of many derived keys (100 per call), for the job's compare-and-write. */
export async function getRawValues(
  kv: KVNamespace,
  valueKeys: readonly string[],
): Promise<Map<string, string | null>> {
  return getMany(kv, valueKeys)
}

/** Writes one derived value (the job's only write path for shared keys). */
export async function putValue(kv: KVNamespace, key: string, bytes: string): Promise<void> {
  await kv.put(key, bytes)
  isolateCache.delete(key)
}

/** Removes a derived value that no longer has a source (a theme or month left empty). */
export async function deleteValue(kv: KVNamespace, key: string): Promise<void> {
  await kv.delete(key)
  isolateCache.delete(key)
}
