// The serving bench: the Worker built as `wrangler deploy` builds it, run in workerd through
// Miniflare on a loopback port, with local KV holding a generated corpus the real scheduled
// handler has refreshed; every public URL measured against two reference Workers in the same
// runtime (one KV read of the same bytes; a fixed 20 KB answer from memory), interleaved A B A B.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { Miniflare, type WorkerOptions } from 'miniflare'
import { buildWorker, readLocalConfig } from '../scripts/local-worker.ts'
import { articleEntries, type KvEntry } from '../src/storage/articles.ts'
import { getStatus } from '../src/storage/indexes.ts'
import { median } from './median.ts'
import { generatedArticles, seededArticles } from './serve-corpus.ts'
import { type Loader, pickLoader, pin, type RunResult, runLoad, soak } from './serve-load.ts'
import { cpuMs, memoryMb, workerdPids } from './workerd-process.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

/** Sizes and durations of one serving bench. */
export interface ServeBenchOptions {
  /** generated articles besides the seeded ones (default 10,000) */
  articles?: number
  /** seconds per timed run (default 3) */
  seconds?: number
  /** A B rounds per URL (default 3) */
  rounds?: number
  /** concurrent connections (default 8) */
  connections?: number
  /** seconds of the memory soak under mixed load; 0 skips it (default 60) */
  soakSeconds?: number
  loader?: Loader
  log?: (line: string) => void
}

/** One URL's figures: medians over the rounds, the project's and its KV reference's. */
export interface UrlFigures {
  name: string
  path: string
  status: number
  bytes: number
  project: RunResult
  reference: RunResult
  rssMb: number
}

interface Target {
  name: string
  path: string
  status: number
  headers?: Record<string, string>
}

function combine(runs: RunResult[]): RunResult {
  const requests = runs.reduce((n, r) => n + r.requests, 0)
  return {
    requests,
    seconds: runs.reduce((n, r) => n + r.seconds, 0),
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    cpuMs: runs.reduce((n, r) => n + r.cpuMs * r.requests, 0) / requests,
    unexpected: runs.reduce((n, r) => n + r.unexpected, 0),
  }
}

/** GET with exactly the headers the load generator sends (no Accept-Encoding): status and bytes. */
function get(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      http
        .get(url, { headers, agent: false }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks),
              headers: res.headers,
            }),
          )
        })
        .on('error', reject)
    },
  )
}

/** The deployable bundle's size: every module wrangler wrote, raw and gzipped. */
export function bundleSize(outdir: string): { raw: number; gzip: number } {
  let raw = 0
  let gzip = 0
  for (const name of readdirSync(outdir)) {
    if (!/\.(m?js|wasm)$/.test(name)) continue
    const bytes = readFileSync(path.join(outdir, name))
    raw += bytes.byteLength
    gzip += gzipSync(bytes).byteLength
  }
  return { raw, gzip }
}

function workers(scriptPath: string, vars: Record<string, string>, seeding: boolean) {
  const local = readLocalConfig()
  const common = {
    modules: true,
    compatibilityDate: local.compatibilityDate,
    compatibilityFlags: local.compatibilityFlags,
    kvNamespaces: { KV: local.namespaceId },
  }
  const list: WorkerOptions[] = [
    { name: 'edgewire', scriptPath, ...common, bindings: { ...local.vars, ...vars } },
    {
      name: 'reference-kv',
      scriptPath: path.join(ROOT, 'bench', 'serve-reference-kv.js'),
      ...common,
      routes: ['*/__bench/kv*'],
    },
    {
      name: 'reference-static',
      scriptPath: path.join(ROOT, 'bench', 'serve-reference-static.js'),
      ...common,
      routes: ['*/__bench/static*'],
    },
  ]
  if (seeding) {
    list.push({
      name: 'seed',
      scriptPath: path.join(ROOT, 'bench', 'serve-seed.js'),
      ...common,
      routes: ['*/__bench/seed*'],
    })
  }
  return list
}

/** Runs the serving bench and prints its table; returns the figures. */
export async function runServeBench(options: ServeBenchOptions = {}) {
  const log = options.log ?? ((line: string) => console.log(line))
  const generated = options.articles ?? 10_000
  const seconds = options.seconds ?? 3
  const rounds = options.rounds ?? 3
  const connections = options.connections ?? 8
  const soakSeconds = options.soakSeconds ?? 60
  const { loader, pinned } = pickLoader(options.loader)

  const outdir = path.join(ROOT, '.wrangler', 'bench-build')
  const scriptPath = buildWorker(outdir)
  const size = bundleSize(outdir)
  log(
    `bundle (wrangler deploy --dry-run, minified): ${(size.raw / 1024).toFixed(1)} KB raw, ` +
      `${(size.gzip / 1024).toFixed(1)} KB gzipped (target < 150 KB)`,
  )

  // Local KV on tmpfs when there is one: the refresh job's thousands of writes go much faster.
  const scratch = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const persist = mkdtempSync(path.join(scratch, 'edgewire-bench-kv-'))
  // The seeding instance may write without the production write budget: seeding speed only.
  const seedVars = { REFRESH_WRITE_BUDGET: '1000000' }
  try {
    // 1. Seed and refresh in one instance, so the measured one starts cold and clean.
    const articles = [...seededArticles(), ...generatedArticles(generated)]
    const seedStart = performance.now()
    const seeder = new Miniflare({
      host: '127.0.0.1',
      port: 0,
      kvPersist: persist,
      workers: workers(scriptPath, seedVars, true),
    })
    const seedUrl = await seeder.ready
    // Article records only: the job's rolling full pass finds them through the key listing (the
    // path that heals lost markers) in a couple of ticks, where 10k markers take one tick per 1,000.
    const entries: KvEntry[] = articles.flatMap((a, i) =>
      articleEntries(a, `s${i}`).filter((e) => e.metadata),
    )
    for (let i = 0; i < entries.length; i += 500) {
      const res = await seeder.dispatchFetch(new URL('/__bench/seed', seedUrl), {
        method: 'POST',
        body: JSON.stringify(entries.slice(i, i + 500)),
      })
      if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`)
      await res.arrayBuffer()
    }
    const wroteMs = performance.now() - seedStart
    const edgewire = await seeder.getWorker('edgewire')
    const kv = (await seeder.getKVNamespace('KV')) as unknown as KVNamespace
    let ticks = 0
    for (; ticks < 30; ) {
      ticks++
      const result = await edgewire.scheduled({ cron: '', scheduledTime: new Date() })
      if (result.outcome !== 'ok') throw new Error(`refresh tick failed: ${result.outcome}`)
      const status = await getStatus(kv)
      if (status && status.pending === 0) break
    }
    const status = await getStatus(kv)
    // A job that never settles is a finding of its own, not a reason to measure nothing.
    if (status?.pending !== 0)
      log(`refresh still reports pending ${status?.pending} after ${ticks} ticks`)
    log(
      `corpus: ${articles.length} articles (${generated} generated + ${articles.length - generated} ` +
        `seeded), written in ${(wroteMs / 1000).toFixed(1)} s, refreshed by the scheduled ` +
        `handler in ${ticks} tick(s), ${((performance.now() - seedStart - wroteMs) / 1000).toFixed(1)} s`,
    )

    // The pages under test, and their bytes stored for the KV reference.
    const sample = articles[0]
    const theme = sample?.themes[0]?.slug ?? 'theme-0'
    const targets: Target[] = [
      { name: 'home', path: '/', status: 200 },
      { name: 'article page', path: `/articles/${sample?.slug}`, status: 200 },
      { name: 'theme page', path: `/themes/${theme}`, status: 200 },
      { name: 'RSS', path: '/feed.xml', status: 200 },
      { name: 'Atom', path: '/atom.xml', status: 200 },
      { name: 'JSON Feed', path: '/feed.json', status: 200 },
      { name: 'theme feed', path: `/themes/${theme}/feed.xml`, status: 200 },
      { name: 'API article', path: `/api/articles/${sample?.slug}`, status: 200 },
      { name: '304 (RSS)', path: '/feed.xml', status: 304 },
      { name: '404', path: '/articles/no-such-story', status: 404 },
    ]
    const bodies: Buffer[] = []
    const etag = (await get(new URL('/feed.xml', seedUrl).href)).headers.etag
    const conditional = targets.find((t) => t.status === 304)
    if (conditional && etag) conditional.headers = { 'If-None-Match': String(etag) }
    for (const [i, t] of targets.entries()) {
      const res = await get(new URL(t.path, seedUrl).href, t.headers)
      if (res.status !== t.status)
        throw new Error(`${t.path} answered ${res.status}, not ${t.status}`)
      bodies.push(res.body)
      // A plain ArrayBuffer: Miniflare's proxy does not take a pooled Buffer view.
      await kv.put(`bench:ref:${i}`, new Uint8Array(res.body).buffer)
    }
    await kv.put('bench:ref:20k', new Uint8Array(20_480).fill(120).buffer)
    await seeder.dispose()

    // 2. The measured instance: same KV, fresh workerd; first request is the cold start.
    const startedAt = performance.now()
    const mf = new Miniflare({
      host: '127.0.0.1',
      port: 0,
      kvPersist: persist,
      workers: workers(scriptPath, {}, false),
    })
    const base = await mf.ready
    const readyMs = performance.now() - startedAt
    const first = performance.now()
    const cold = await get(new URL('/', base).href)
    const coldMs = performance.now() - first
    if (cold.status !== 200) throw new Error(`cold request answered ${cold.status}`)
    log(
      `workerd ready in ${readyMs.toFixed(0)} ms; cold start (first request after start): ` +
        `${coldMs.toFixed(1)} ms (target < 50 ms)`,
    )
    try {
      const [pid] = workerdPids()
      if (pid === undefined) throw new Error('workerd process not found')
      const pinnedOk = pinned && pin(pid, 0)
      log(
        `load: ${loader === 'h2load' ? 'h2load (HTTP/1.1, per-request log: exact percentiles)' : 'h2load not found: autocannon (its 1 ms resolution hides p50)'}, ` +
          `${connections} connections, ${seconds} s per run, ${rounds} A/B rounds per URL, ` +
          (pinnedOk
            ? 'workerd pinned to core 0, load generator to core 1'
            : 'not pinned (taskset missing)'),
      )
      const run = (p: string, status: number, headers?: Record<string, string>) =>
        runLoad(
          {
            url: new URL(p, base).href,
            status,
            connections,
            seconds,
            ...(headers ? { headers } : {}),
          },
          pid,
          loader,
          pinnedOk,
        )

      // The runtime's ceiling and a 20 KB KV read, as the issue measured them.
      const ceiling: RunResult[] = []
      const floor20k: RunResult[] = []
      for (let r = 0; r < rounds; r++) {
        ceiling.push(run('/__bench/static', 200))
        floor20k.push(run('/__bench/kv?key=bench:ref:20k', 200))
      }
      const staticRef = combine(ceiling)
      const kv20k = combine(floor20k)

      const figures: UrlFigures[] = []
      for (const [i, t] of targets.entries()) {
        const a: RunResult[] = []
        const b: RunResult[] = []
        let rss = 0
        for (let r = 0; r < rounds; r++) {
          a.push(run(t.path, t.status, t.headers))
          b.push(run(`/__bench/kv?key=bench:ref:${i}`, 200))
          rss = Math.max(rss, memoryMb(pid).rss)
        }
        figures.push({
          name: t.name,
          path: t.path,
          status: t.status,
          bytes: bodies[i]?.byteLength ?? 0,
          project: combine(a),
          reference: combine(b),
          rssMb: rss,
        })
      }

      printTable(log, figures, staticRef, kv20k)
      const mem = memoryMb(pid)
      log(
        `workerd memory: VmHWM ${mem.hwm.toFixed(1)} MB, VmRSS ${mem.rss.toFixed(1)} MB; ` +
          `CPU ${(cpuMs(pid) / 1000).toFixed(1)} s in all`,
      )
      if (soakSeconds > 0) {
        const urls = targets.filter((t) => !t.headers).map((t) => new URL(t.path, base).href)
        const samples = await soak(urls, pid, soakSeconds, connections, loader, pinnedOk)
        const peak = Math.max(...samples)
        const half = samples[Math.floor(samples.length / 2)] ?? 0
        const last = samples.at(-1) ?? 0
        const growth = ((last - half) / peak) * 100
        log(
          `memory soak: ${soakSeconds} s of mixed load over ${urls.length} URLs: RSS peak ` +
            `${peak.toFixed(1)} MB, last ${last.toFixed(1)} MB, growth over the last half ` +
            `${growth.toFixed(1)}% of the peak (target < 5%)`,
        )
      }
      const ratios = figures.map((f) => f.project.rps / f.reference.rps)
      log(`median throughput ratio to the KV reference: ${median(ratios).toFixed(2)}x`)
      return { figures, staticRef, kv20k, coldMs, bundle: size }
    } finally {
      await mf.dispose()
    }
  } finally {
    rmSync(persist, { recursive: true, force: true })
  }
}

function printTable(
  log: (line: string) => void,
  figures: UrlFigures[],
  staticRef: RunResult,
  kv20k: RunResult,
) {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`
  const n = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-')
  log('')
  log(
    row([
      'URL',
      'status',
      'bytes',
      'req/s',
      'p50 ms',
      'p99 ms',
      'CPU ms/req',
      'KV ref req/s',
      'ref p99 ms',
      'ref CPU ms/req',
      'ratio',
      'RSS MB',
    ]),
  )
  log(row(Array.from({ length: 12 }, () => '---')))
  for (const f of figures) {
    const bad = f.project.unexpected + f.reference.unexpected
    log(
      row([
        `\`${f.path}\`${f.status === 200 ? '' : ` (${f.status})`}`,
        String(f.status),
        String(f.bytes),
        n(f.project.rps),
        n(f.project.p50Ms, 2),
        n(f.project.p99Ms, 2),
        n(f.project.cpuMs, 3),
        n(f.reference.rps),
        n(f.reference.p99Ms, 2),
        n(f.reference.cpuMs, 3),
        `${n(f.project.rps / f.reference.rps, 2)}x${bad ? ` (${bad} unexpected statuses)` : ''}`,
        n(f.rssMb, 1),
      ]),
    )
  }
  log('')
  log(
    `references: static 20 KB from memory ${n(staticRef.rps)} req/s (p50 ${n(staticRef.p50Ms, 2)} ms, ` +
      `p99 ${n(staticRef.p99Ms, 2)} ms, ${n(staticRef.cpuMs, 3)} CPU ms/req); one 20 KB KV read ` +
      `${n(kv20k.rps)} req/s (${n(kv20k.rps / staticRef.rps, 2)}x the static, p99 ${n(kv20k.p99Ms, 2)} ms, ` +
      `${n(kv20k.cpuMs, 3)} CPU ms/req)`,
  )
}
