import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const story = (id: string, title: string, published: string | null) => ({
  id,
  title,
  summary: `${title}. Officials described the scene to reporters.`,
  body: `${title}. More details followed during the day from the officials at the scene.`,
  published,
})

function runCli(lines: unknown[], args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'related-cli-'))
  try {
    const file = join(dir, 'input.jsonl')
    writeFileSync(file, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`)
    const run = spawnSync('npx', ['tsx', 'scripts/related.ts', file, ...args], { encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    return JSON.parse(run.stdout) as Record<string, string[]>
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('npm run related', () => {
  it('prints related ids for evaluation records, keyed by id, never the record itself', () => {
    const records = [
      story('Fire_1', 'Warehouse fire in Leeds destroys stock', '2013-07-21'),
      story('Fire_2', 'Leeds warehouse fire destroys stock overnight', null),
      story('Vote_1', 'Parliament passes the budget bill', '2013-07-21'),
    ]
    const out = runCli(records)
    expect(Object.keys(out).sort()).toEqual(['Fire_1', 'Fire_2', 'Vote_1'])
    expect(out.Fire_1?.[0]).toBe('Fire_2')
    for (const [id, list] of Object.entries(out)) expect(list).not.toContain(id)
  })

  it('reads article-model records and honours --fields title,summary', () => {
    const articles = [
      {
        slug: 'fire-one',
        title: 'Warehouse fire in Leeds',
        summary: 'A fire hit a Leeds warehouse.',
        body: 'Budget vote text.',
        themes: [{ slug: 'uk', name: 'UK' }],
        publishedAt: '2013-07-21T10:00:00+01:00',
      },
      {
        slug: 'fire-two',
        title: 'Leeds warehouse blaze',
        summary: 'Fire crews fought a Leeds warehouse fire.',
        body: '',
        themes: [],
        publishedAt: '2013-07-21T12:00:00Z',
      },
      {
        slug: 'vote-one',
        title: 'Parliament budget vote',
        summary: 'The budget bill passed.',
        body: 'Warehouse fire in Leeds warehouse fire.',
        themes: [],
        publishedAt: '2013-07-21T12:00:00Z',
      },
    ]
    const out = runCli(articles, ['--fields', 'title,summary'])
    expect(out['fire-one']?.[0]).toBe('fire-two')
    expect(out['fire-one']).not.toContain('vote-one')
  })
})
