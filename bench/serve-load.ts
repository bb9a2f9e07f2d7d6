// Drives load at one URL from a second process and reads what the server spent on it: h2load
// (exact per-request latencies from its log) or, when it is missing, autocannon (1 ms steps), both
// pinned to core 1 while workerd is pinned to core 0; CPU and memory come from /proc.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { cpuMs, memoryMb } from './workerd-process.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

/** Which load generator drives the runs. */
export type Loader = 'h2load' | 'autocannon'

/** One timed run at one URL. */
export interface RunResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
  /** server CPU per request, ms (workerd's utime + stime delta over the requests) */
  cpuMs: number
  /** responses with another status than expected */
  unexpected: number
}

/** What drives one run: URL, extra request headers, the status every response should have. */
export interface RunSpec {
  url: string
  headers?: Record<string, string>
  status: number
  connections: number
  seconds: number
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
}

/** h2load when installed, else autocannon; and whether taskset can pin the two sides. */
export function pickLoader(preferred?: Loader): { loader: Loader; pinned: boolean } {
  const loader = preferred ?? (onPath('h2load') ? 'h2load' : 'autocannon')
  return { loader, pinned: onPath('taskset') }
}

/** Pins every thread of `pid` to one core; false when taskset refused. */
export function pin(pid: number, core: number): boolean {
  return spawnSync('taskset', ['-a', '-pc', String(core), String(pid)]).status === 0
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

function loadCommand(loader: Loader, pinned: boolean, args: string[]): [string, string[]] {
  const base: [string, string[]] =
    loader === 'h2load'
      ? ['h2load', args]
      : [
          process.execPath,
          [path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), ...args],
        ]
  return pinned ? ['taskset', ['-c', '1', base[0], ...base[1]]] : base
}

/** Runs one timed load at one URL and reads workerd's CPU around it. */
export function runLoad(spec: RunSpec, pid: number, loader: Loader, pinned: boolean): RunResult {
  const headerArgs = Object.entries(spec.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const dir = mkdtempSync(path.join(tmpdir(), 'edgewire-load-'))
  try {
    if (loader === 'h2load') {
      const log = path.join(dir, 'requests.tsv')
      const args = [
        '--h1',
        '-c',
        String(spec.connections),
        '-t',
        '1',
        '-D',
        String(spec.seconds),
        `--log-file=${log}`,
        ...headerArgs,
        spec.url,
      ]
      const [cmd, argv] = loadCommand(loader, pinned, args)
      const before = cpuMs(pid)
      const result = spawnSync(cmd, argv, { encoding: 'utf8' })
      const spent = cpuMs(pid) - before
      if (result.status !== 0 || !existsSync(log)) {
        throw new Error(`h2load failed: ${result.stderr || result.stdout}`)
      }
      const rows = readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\t').map(Number))
      const latencies = rows.map((r) => (r[2] ?? 0) / 1000).sort((a, b) => a - b)
      const unexpected = rows.filter((r) => r[1] !== spec.status).length
      return {
        requests: rows.length,
        seconds: spec.seconds,
        rps: rows.length / spec.seconds,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        cpuMs: rows.length ? spent / rows.length : Number.NaN,
        unexpected,
      }
    }
    const args = ['-c', String(spec.connections), '-d', String(spec.seconds), '-j', ...headerArgs]
    const [cmd, argv] = loadCommand(loader, pinned, [...args, spec.url])
    const before = cpuMs(pid)
    const result = spawnSync(cmd, argv, { encoding: 'utf8' })
    const spent = cpuMs(pid) - before
    if (result.status !== 0) throw new Error(`autocannon failed: ${result.stderr}`)
    const report = JSON.parse(result.stdout) as {
      requests: { total: number }
      latency: { p50: number; p99: number }
      duration: number
      statusCodeStats?: Record<string, { count: number }>
    }
    const total = report.requests.total
    const matching = report.statusCodeStats?.[String(spec.status)]?.count ?? total
    return {
      requests: total,
      seconds: report.duration,
      rps: total / report.duration,
      p50Ms: report.latency.p50,
      p99Ms: report.latency.p99,
      cpuMs: total ? spent / total : Number.NaN,
      unexpected: total - matching,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs a load over several URLs for `seconds`, sampling workerd's RSS once a second. */
export async function soak(
  urls: string[],
  pid: number,
  seconds: number,
  connections: number,
  loader: Loader,
  pinned: boolean,
): Promise<number[]> {
  const { spawn } = await import('node:child_process')
  const args =
    loader === 'h2load'
      ? ['--h1', '-c', String(connections), '-t', '1', '-D', String(seconds), ...urls]
      : ['-c', String(connections), '-d', String(seconds), urls[0] as string]
  const [cmd, argv] = loadCommand(loader, pinned, args)
  const child = spawn(cmd, argv, { stdio: 'ignore' })
  const samples: number[] = []
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  let finished = false
  void done.then(() => {
    finished = true
  })
  while (!finished) {
    samples.push(memoryMb(pid).rss)
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000))])
  }
  return samples
}
