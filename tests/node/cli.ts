// Runs the project's own CLIs the way a user does (`npm run import -- ...`), in a scratch
// persistence folder so tests never touch the developer's local KV.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '../..')

/** A fresh temporary folder. */
export function scratch(prefix = 'edgewire-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix))
}

/** Writes JSON Lines (strings are written as given, objects as JSON). */
export function writeJsonl(file: string, lines: unknown[]): string {
  writeFileSync(
    file,
    `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`,
  )
  return file
}

/** Runs an npm script's entry with tsx, as `npm run <name>` does. */
export function runScript(script: string, args: string[]) {
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
      path.join(ROOT, 'scripts', script),
      ...args,
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      timeout: 180_000,
    },
  )
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}
