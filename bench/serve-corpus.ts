// The serving bench's corpus: the seeded articles plus generated ones shaped like them (words
// drawn from the seeded text, paragraphs of the same lengths, a few themes each), deterministic.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { type Article, parseArticleInput } from '../src/model/article.ts'
import { seededRandom } from './seeded-random'

const ROOT = path.resolve(import.meta.dirname, '..')

/** The seeded articles of data/articles.jsonl, validated as the import does. */
export function seededArticles(): Article[] {
  const text = readFileSync(path.join(ROOT, 'data', 'articles.jsonl'), 'utf8')
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line, i) => {
      const parsed = parseArticleInput(JSON.parse(line), {
        now: '2025-06-01T00:00:00Z',
        newId: () => `01SEED${String(i).padStart(20, '0')}`,
      })
      if (!parsed.ok) throw new Error(`data/articles.jsonl line ${i + 1} is invalid`)
      return parsed.value
    })
}

const THEMES = Array.from({ length: 40 }, (_, i) => ({
  slug: `theme-${i}`,
  name: `Theme ${i}`,
}))

/** `count` generated articles (plus nothing else), published one per hour before the seeded ones. */
export function generatedArticles(count: number, seed = 7): Article[] {
  const seeded = seededArticles()
  const words = seeded
    .flatMap((a) => `${a.title} ${a.summary} ${a.body}`.split(/\s+/))
    .filter((w) => /^[A-Za-z][A-Za-z'-]*[a-z,.]?$/.test(w))
  const paragraphs = seeded.flatMap((a) => a.body.split('\n\n').map((p) => p.split(/\s+/).length))
  const bodies = seeded.map((a) => a.body.split('\n\n').length)
  const next = seededRandom(seed)
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T
  const sentence = (n: number) => {
    const out = Array.from({ length: n }, () => pick(words))
    const first = out[0] ?? 'News'
    out[0] = first.charAt(0).toUpperCase() + first.slice(1)
    return `${out.join(' ').replace(/[,.]$/, '')}.`
  }
  const start = Date.UTC(2025, 0, 1)
  return Array.from({ length: count }, (_, i) => {
    const themeA = pick(THEMES)
    const themeB = pick(THEMES)
    const body = Array.from({ length: pick(bodies) }, () => sentence(pick(paragraphs))).join('\n\n')
    const at = new Date(start - i * 3_600_000).toISOString().replace('.000Z', 'Z')
    return {
      id: `01BENCH${String(i).padStart(19, '0')}`,
      slug: `bench-story-${i}`,
      title: sentence(8 + Math.floor(next() * 6)).replace(/\.$/, ''),
      summary: sentence(30 + Math.floor(next() * 20)),
      body,
      themes: themeA.slug === themeB.slug ? [themeA] : [themeA, themeB],
      publishedAt: at,
      updatedAt: at,
    }
  })
}
