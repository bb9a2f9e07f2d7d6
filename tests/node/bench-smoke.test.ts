// `npm run bench`'s serving part at a tiny size: it builds, seeds, refreshes, loads every URL
// against the references and prints the table and the median ratio. Shape only, never timing.
import { describe, expect, it } from 'vitest'
import { runScript } from './cli'

describe('npm run bench (serving, tiny)', () => {
  it('prints the bundle size, cold start, one row per URL and the median ratio last', () => {
    const result = runScript(
      'bench/run.ts',
      ['--serve-only', '--articles', '200', '--seconds', '1', '--rounds', '1', '--soak', '0'],
      280_000,
    )
    expect(result.status, result.stderr).toBe(0)
    const lines = result.stdout.trim().split('\n')
    expect(result.stdout).toMatch(/bundle \(wrangler deploy --dry-run, minified\): [\d.]+ KB raw/)
    expect(result.stdout).toMatch(/cold start \(first request after start\): [\d.]+ ms/)
    expect(result.stdout).toMatch(/load: (h2load|h2load not found: autocannon)/)
    const rows = lines.filter((l) => l.startsWith('| `'))
    expect(rows.map((r) => r.split(' | ')[0])).toEqual([
      '| `/`',
      expect.stringMatching(/^\| `\/articles\//),
      expect.stringMatching(/^\| `\/themes\/[a-z0-9-]+`$/),
      '| `/feed.xml`',
      '| `/atom.xml`',
      '| `/feed.json`',
      expect.stringMatching(/^\| `\/themes\/[a-z0-9-]+\/feed\.xml`$/),
      expect.stringMatching(/^\| `\/api\/articles\//),
      '| `/feed.xml` (304)',
      '| `/articles/no-such-story` (404)',
    ])
    for (const row of rows) expect(row).not.toContain('unexpected statuses')
    expect(lines.at(-1)).toMatch(/^median throughput ratio to the KV reference: [\d.]+x$/)
  }, 300_000)
})
