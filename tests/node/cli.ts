// Runs the project's own CLIs the way a user does (`npm run import -- ...`), in a scratch
// persistence folder so tests never touch the developer's local KV.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { inject } from 'vitest'
import { freePort } from '../../scripts/local-worker'

export const ROOT = path.resolve(import.meta.dirname, '../..')

/** A fresh temporary folder inside the run's own, which the run removes (scratch-root.ts). */
export function scratch(prefix = 'edgewire-test-'): string {
  return mkdtempSync(path.join(inject('scratchRoot'), prefix))
}

/** Writes JSON Lines (strings are written as given, objects as JSON). */
export function writeJsonl(file: string, lines: unknown[]): string {
  writeFileSync(
    file,
    `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`,
  )
  return file
}

/**
 * Runs an npm script's entry with tsx, as `npm run <name>` does: `import.ts` is under scripts/,
 * a path with a slash (`bench/run.ts`) is from the repository root.
 */
export function runScript(script: string, args: string[], timeoutMs = 180_000) {
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
      path.join(ROOT, script.includes('/') ? '' : 'scripts', script),
      ...args,
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      timeout: timeoutMs,
    },
  )
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A running `npm run dev`: its process group, base URL and everything it printed so far. */
export interface DevServer {
  child: ChildProcess
  port: number
  base: string
  output: () => string
  stop: () => void
}

/** Starts `npm run dev` on a free port and resolves once wrangler says it is ready. */
export async function startDev(persistTo: string, timeoutMs = 120_000): Promise<DevServer> {
  const port = await freePort()
  const child = spawn(
    'npm',
    ['run', 'dev', '--', '--port', String(port), '--persist-to', persistTo],
    {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  const stop = () => {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGTERM')
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`dev server not ready:\n${output}`))
    }, timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (/Ready on http/.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`dev exited ${code}:\n${output}`)))
  })
  // The site's absolute links name localhost, so a browser stays on one origin.
  return { child, port, base: `http://localhost:${port}`, output: () => output, stop }
}
