// Writes validated articles into a KV namespace through the storage module: an existing
// article keeps its immutable id, and a record that says nothing new is not written at all.
import { ulid } from 'ulidx'
import { type Article, sameArticleContent } from '../src/model/article.ts'
import { getArticle, putArticle } from '../src/storage/articles.ts'

/** Writes each article unless unchanged; returns how many were written. */
export async function writeArticles(
  kv: KVNamespace,
  articles: ReadonlyArray<{ article: Article; hadId: boolean }>,
): Promise<number> {
  let written = 0
  for (const { article, hadId } of articles) {
    const existing = await getArticle(kv, article.slug)
    const previous = existing.state === 'live' ? existing.article : null
    const next = previous && !hadId ? { ...article, id: previous.id } : article
    // Re-importing the same file writes nothing (and keeps updatedAt).
    if (previous && sameArticleContent(previous, next)) continue
    await putArticle(kv, next, ulid())
    written++
  }
  return written
}
