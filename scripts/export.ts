// npm run export -- FILE.jsonl [--persist-to DIR]
// Writes every article in local KV back out in the import format (KV has no backups).
import { writeFileSync } from 'node:fs'
import { getArticles, listArticleKeys } from '../src/storage/articles.ts'
import { flag, startLocalWorker } from './local-worker.ts'

async function main(argv: string[]) {
  const file = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--persist-to')
  if (!file) {
    console.error('usage: npm run export -- FILE.jsonl [--persist-to DIR]')
    return 2
  }
  const persistTo = flag(argv, '--persist-to')
  const worker = await startLocalWorker(persistTo ? { persistTo } : {})
  try {
    const lines: string[] = []
    let cursor: string | null = null
    let bad = 0
    do {
      const page = await listArticleKeys(worker.kv, cursor)
      const records = await getArticles(
        worker.kv,
        page.entries.map((e) => e.slug),
      )
      for (const [slug, record] of records) {
        if (record.stored.state === 'live') lines.push(JSON.stringify(record.stored.article))
        else if (record.stored.state === 'corrupt') {
          bad++
          console.error(`skipping corrupt record ${slug}`)
        }
      }
      cursor = page.cursor
    } while (cursor)
    writeFileSync(file, lines.length ? `${lines.join('\n')}\n` : '')
    console.log(
      `exported ${lines.length} article(s) to ${file}${bad ? ` (${bad} corrupt skipped)` : ''}`,
    )
    return bad ? 1 : 0
  } finally {
    await worker.dispose()
  }
}

process.exitCode = await main(process.argv.slice(2))
