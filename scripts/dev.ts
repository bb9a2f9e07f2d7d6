// npm run dev [-- --port N] [other wrangler dev flags]
// Seeds local KV from data/ on first start, brings every derived index up to date through the
// real refresh job (the cron's code, run in workerd), then hands over to `wrangler dev` with
// --test-scheduled, so `curl localhost:PORT/__scheduled` fires the same handler.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { ulid } from 'ulidx'
import { listArticleKeys } from '../src/storage/articles.ts'
import { DEFAULT_PERSIST, flag, ROOT, startLocalWorker } from './local-worker.ts'
import { formatLineErrors, readArticlesFile } from './read-jsonl.ts'
import { writeArticles } from './write-articles.ts'

const SEED = path.join(ROOT, 'data', 'articles.jsonl')

async function prepare(port: number, persistTo: string) {
  const worker = await startLocalWorker({
    persistTo,
    vars: { SITE_URL: `http://localhost:${port}` },
  })
  try {
    const { entries } = await listArticleKeys(worker.kv, null, 1)
    if (entries.length === 0) {
      const { articles, errors } = readArticlesFile(SEED, {
        now: new Date().toISOString(),
        newId: () => ulid(),
      })
      if (errors.length)
        throw new Error(`data/articles.jsonl is invalid:\n${formatLineErrors(SEED, errors)}`)
      const written = await writeArticles(worker.kv, articles)
      console.log(`seeded ${written} article(s) from data/articles.jsonl`)
    }
    const ticks = await worker.refreshUntilIdle()
    console.log(`indexes up to date (${ticks} refresh tick(s))`)
  } finally {
    await worker.dispose()
  }
}

const argv = process.argv.slice(2)
const port = Number(flag(argv, '--port') ?? 8787)
const persistTo = path.resolve(flag(argv, '--persist-to') ?? DEFAULT_PERSIST)
const passThrough = argv.filter((a, i) => {
  const own = ['--port', '--persist-to']
  return (
    !own.includes(a) && !own.includes(argv[i - 1] ?? '') && !own.some((o) => a.startsWith(`${o}=`))
  )
})

await prepare(port, persistTo)
const child = spawn(
  process.execPath,
  [
    path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'dev',
    '--port',
    String(port),
    '--persist-to',
    persistTo,
    '--test-scheduled',
    '--var',
    `SITE_URL:http://localhost:${port}`,
    ...passThrough,
  ],
  { cwd: ROOT, stdio: 'inherit', env: process.env },
)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
child.on('exit', (code) => process.exit(code ?? 0))
