// The one place that knows where local KV lives and how to run the real Worker outside
// `wrangler dev` (D8): dev, import, export and the bench all start it through here, so they all
// see the same state as `npm run dev`.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { Miniflare } from 'miniflare'
import { parse as parseToml } from 'smol-toml'
import { getStatus } from '../src/storage/indexes.ts'

export const ROOT = path.resolve(import.meta.dirname, '..')
/** wrangler dev's default state folder; `--persist-to` changes it for dev, import and export alike. */
export const DEFAULT_PERSIST = path.join(ROOT, '.wrangler', 'state')

// Local runs must never call Cloudflare (no account, no network): D8 and the guide.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
process.env.WRANGLER_SEND_METRICS = 'false'

/** The KV namespace id, vars and compatibility date wrangler.toml gives the local Worker. */
export function readLocalConfig() {
  // smol-toml rather than wrangler's own reader: importing wrangler costs seconds per CLI run.
  const config = parseToml(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')) as {
    compatibility_date?: string
    compatibility_flags?: string[]
    kv_namespaces?: Array<{ binding: string; id?: string }>
    vars?: Record<string, unknown>
    triggers?: { crons?: string[] }
  }
  const kv = config.kv_namespaces?.find((n) => n.binding === 'KV')
  if (!kv?.id) throw new Error('wrangler.toml declares no KV namespace with binding "KV"')
  return {
    namespaceId: kv.id,
    vars: Object.fromEntries(
      Object.entries(config.vars ?? {}).map(([k, v]) => [
        k,
        typeof v === 'string' ? v : JSON.stringify(v),
      ]),
    ),
    compatibilityDate: config.compatibility_date ?? '2026-04-20',
    compatibilityFlags: config.compatibility_flags ?? [],
    /** the cron triggers, as the scheduled handler receives them */
    crons: config.triggers?.crons ?? [],
  }
}

/** Local KV is stored by wrangler under `<persist>/v3/kv`, keyed by the namespace id. */
export function kvPersistDir(persistTo = DEFAULT_PERSIST): string {
  return path.join(persistTo, 'v3', 'kv')
}

function newestSourceChange(): number {
  let newest = 0
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) visit(full)
      else newest = Math.max(newest, statSync(full).mtimeMs)
    }
  }
  visit(path.join(ROOT, 'src'))
  for (const file of ['wrangler.toml', 'package-lock.json']) {
    newest = Math.max(newest, statSync(path.join(ROOT, file)).mtimeMs)
  }
  return newest
}

/** Builds the Worker exactly as `wrangler deploy` would, into `outdir`; returns the script path. */
export function buildWorker(outdir = path.join(ROOT, '.wrangler', 'build')): string {
  const script = path.join(outdir, 'index.js')
  // Reuse the last bundle while no source changed since it was built.
  try {
    if (statSync(script).mtimeMs > newestSourceChange()) return script
  } catch {}
  mkdirSync(outdir, { recursive: true })
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
      'deploy',
      '--dry-run',
      '--outdir',
      outdir,
    ],
    { cwd: ROOT, encoding: 'utf8', env: process.env },
  )
  if (result.status !== 0) {
    throw new Error(`wrangler deploy --dry-run failed:\n${result.stdout}\n${result.stderr}`)
  }
  return script
}

export interface LocalWorker {
  mf: Miniflare
  kv: KVNamespace
  /**
   * fires the real scheduled handler once (at `scheduledTime`, default now), as the trigger
   * `cron` would (default '': the whole refresh job, as `/__scheduled` does)
   */
  tick: (scheduledTime?: Date, cron?: string) => Promise<void>
  /** ticks until the job reports nothing pending (or `maxTicks`); returns ticks run */
  refreshUntilIdle: (maxTicks?: number) => Promise<number>
  dispose: () => Promise<void>
}

/** Starts the built Worker in workerd with the same local KV `npm run dev` uses. */
export async function startLocalWorker(
  options: {
    persistTo?: string
    vars?: Record<string, string>
    scriptPath?: string
    /** receives each line the Worker logs (console.log), instead of Miniflare printing it */
    onLog?: (line: string) => void
    /** serves workerd's inspector (DevTools protocol) on this loopback port (the bench reads the heap) */
    inspectorPort?: number
  } = {},
): Promise<LocalWorker> {
  const local = readLocalConfig()
  const scriptPath = options.scriptPath ?? buildWorker()
  const mf = new Miniflare({
    scriptPath,
    // The bundle's own folder: a bundle outside the working directory (the bench's --against,
    // built in another checkout) is then no module path workerd refuses.
    modulesRoot: path.dirname(scriptPath),
    modules: true,
    compatibilityDate: local.compatibilityDate,
    compatibilityFlags: local.compatibilityFlags,
    kvNamespaces: { KV: local.namespaceId },
    kvPersist: kvPersistDir(options.persistTo),
    bindings: { ...local.vars, ...options.vars },
    ...(options.onLog ? { handleRuntimeStdio: stdioTo(options.onLog) } : {}),
    ...(options.inspectorPort ? { inspectorPort: options.inspectorPort } : {}),
  })
  await mf.ready
  const kv = (await mf.getKVNamespace('KV')) as unknown as KVNamespace
  const tick = async (scheduledTime = new Date(), cron = '') => {
    const worker = await mf.getWorker()
    const result = await worker.scheduled({ cron, scheduledTime })
    if (result.outcome !== 'ok') throw new Error(`refresh tick failed: ${result.outcome}`)
  }
  return {
    mf,
    kv,
    tick,
    async refreshUntilIdle(maxTicks = 100) {
      for (let n = 1; n <= maxTicks; n++) {
        await tick()
        const status = await getStatus(kv)
        if (!status || status.pending === 0) return n
      }
      throw new Error(`refresh still has work pending after ${maxTicks} ticks`)
    },
    dispose: () => mf.dispose(),
  }
}

// Splits workerd's stdout into lines for `onLog`; stderr (warnings, crashes) still shows.
function stdioTo(onLog: (line: string) => void) {
  return (stdout: Readable, stderr: Readable) => {
    let rest = ''
    stdout.setEncoding('utf8')
    stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLog(line)
    })
    stderr.pipe(process.stderr)
  }
}

/** `--name value` from argv, or undefined. */
export function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  if (i >= 0) return argv[i + 1]
  const eq = argv.find((a) => a.startsWith(`${name}=`))
  return eq?.slice(name.length + 1)
}

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(),
      )
    })
  })
}
