// The acceptance: after `npm run import` of evaluation records converted to the article
// model, GET /api/articles/:slug lists the same related stories, in the same order, as
// `npm run related` on that file. The evaluation data stays outside the repo (../shared).
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { startLocalWorker } from '../../scripts/local-worker.ts'
import { evalPublishedAt, evalSlug } from '../../src/related/eval-record.ts'
import { ROOT, runScript, scratch, writeJsonl } from './cli'

const DEV = path.join(ROOT, '..', 'shared', 'evaldata', 'dev.jsonl')
const COUNT = 120

interface DevRecord {
  id: string
  title: string
  summary?: string | null
  body?: string | null
  published?: string | null
}

// The article model needs a headline of at most 300 characters and a lede; records without
// them are passed over rather than invented.
function toArticles(text: string) {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as DevRecord)
    .filter((r) => r.title?.trim() && r.title.length <= 300 && r.summary?.trim())
    .slice(0, COUNT)
    .map((r) => ({
      slug: evalSlug(r.id),
      title: r.title,
      summary: r.summary as string,
      body: r.body ?? '',
      themes: [],
      publishedAt: evalPublishedAt(r.published),
    }))
}

describe.skipIf(!existsSync(DEV))('related parity of the Worker and npm run related', () => {
  if (!existsSync(DEV)) console.warn(`skipped: ${DEV} is absent`)

  it('serves the same related slugs in the same order as the CLI', async () => {
    const dir = scratch('related-parity-')
    const persist = path.join(dir, 'state')
    const articles = toArticles(readFileSync(DEV, 'utf8'))
    expect(articles).toHaveLength(COUNT)
    const file = writeJsonl(path.join(dir, 'articles.jsonl'), articles)

    const imported = runScript('import.ts', [file, '--persist-to', persist])
    expect(imported.status, imported.stderr).toBe(0)
    const cli = runScript('related.ts', [file])
    expect(cli.status, cli.stderr).toBe(0)
    const expected = JSON.parse(cli.stdout) as Record<string, string[]>

    const worker = await startLocalWorker({ persistTo: persist })
    try {
      let compared = 0
      for (const { slug } of articles) {
        const response = await worker.mf.dispatchFetch(`http://localhost/api/articles/${slug}`)
        expect(response.status, slug).toBe(200)
        const body = (await response.json()) as { related: Array<{ slug: string }> }
        const served = body.related.map((r) => r.slug)
        const want = expected[slug] ?? []
        expect(served, slug).toEqual(want.slice(0, served.length))
        expect(served.length, slug).toBe(Math.min(want.length, 10))
        compared += served.length
      }
      expect(compared).toBeGreaterThan(COUNT)
    } finally {
      await worker.dispose()
    }
  })
})
