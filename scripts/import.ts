// npm run import -- FILE.jsonl [--remote] [--persist-to DIR]
// Loads articles (the article model, one per line) into the local KV that `npm run dev` uses,
// or with --remote into the deployed namespace. Any bad record rejects the whole file, naming
// its line, and nothing is written. Locally it then runs the real refresh job until idle.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ulid } from 'ulidx'
import { articleEntries } from '../src/storage/articles.ts'
import { flag, ROOT, startLocalWorker } from './local-worker.ts'
import { formatLineErrors, readArticlesFile } from './read-jsonl.ts'
import { writeArticles } from './write-articles.ts'

const USAGE = 'usage: npm run import -- FILE.jsonl [--remote] [--persist-to DIR]'

async function main(argv: string[]) {
  const file = argv.find((a) => !a.startsWith('--') && argv[argv.indexOf(a) - 1] !== '--persist-to')
  if (!file) {
    console.error(USAGE)
    return 2
  }
  const remote = argv.includes('--remote')
  const now = new Date().toISOString()
  const { articles, errors } = readArticlesFile(file, { now, newId: () => ulid() })
  if (errors.length > 0) {
    console.error(formatLineErrors(file, errors))
    console.error(`import rejected: ${errors.length} bad record(s); nothing was written`)
    return 1
  }

  if (remote) {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgewire-import-'))
    const bulk = path.join(dir, 'bulk.json')
    const entries = articles.flatMap(({ article }) => articleEntries(article, ulid()))
    writeFileSync(bulk, JSON.stringify(entries))
    const env = flag(argv, '--env') ?? 'production'
    const result = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
        'kv',
        'bulk',
        'put',
        bulk,
        '--binding',
        'KV',
        '--remote',
        '--env',
        env,
      ],
      { cwd: ROOT, stdio: 'inherit' },
    )
    rmSync(dir, { recursive: true, force: true })
    if (result.status !== 0) return result.status ?? 1
    console.log(
      `imported ${articles.length} article(s) into the ${env} namespace; the cron publishes them within one tick`,
    )
    return 0
  }

  const persistTo = flag(argv, '--persist-to')
  const worker = await startLocalWorker(persistTo ? { persistTo } : {})
  try {
    const written = await writeArticles(worker.kv, articles)
    const ticks = await worker.refreshUntilIdle()
    console.log(
      `imported ${articles.length} article(s) (${written} new or changed); refresh ran ${ticks} tick(s), nothing pending`,
    )
    return 0
  } finally {
    await worker.dispose()
  }
}

process.exitCode = await main(process.argv.slice(2))
