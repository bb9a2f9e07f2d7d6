import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScript, scratch, writeJsonl } from './cli'

const good = (slug: string, title = `Story ${slug}`) => ({
  slug,
  title,
  summary: `What happened in ${slug}.`,
  body: `Body of ${slug}.`,
  themes: [{ slug: 'europe', name: 'Europe' }],
  publishedAt: '2025-05-19T10:00:00+02:00',
})

function exportLines(persist: string, dir: string): Array<Record<string, unknown>> {
  const out = path.join(dir, 'export.jsonl')
  const result = runScript('export.ts', [out, '--persist-to', persist])
  expect(result.status, result.stderr).toBe(0)
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
}

describe('npm run import', () => {
  it('rejects a file with bad records, naming each line, and writes none of them', () => {
    const dir = scratch()
    const persist = path.join(dir, 'state')
    const file = writeJsonl(path.join(dir, 'bad.jsonl'), [
      good('fine-story'),
      { ...good('x'), slug: 'Not A Slug' },
      '{"slug": "broken-json",',
      { ...good('naive-time'), publishedAt: '2025-05-19T10:00:00' },
      { ...good('extra-field'), colour: 'red' },
      good('fine-story'),
    ])
    const result = runScript('import.ts', [file, '--persist-to', persist])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('bad.jsonl:2: slug')
    expect(result.stderr).toContain('bad.jsonl:3: (line) is not valid JSON')
    expect(result.stderr).toContain('bad.jsonl:4: publishedAt')
    expect(result.stderr).toContain('bad.jsonl:5: colour is not a field')
    expect(result.stderr).toContain('bad.jsonl:6: slug repeats the slug of line 1')
    expect(result.stderr).toContain('nothing was written')
    expect(exportLines(persist, dir)).toEqual([])
  })

  it('imports, refreshes, exports the same articles, and re-imports with no writes', () => {
    const dir = scratch()
    const persist = path.join(dir, 'state')
    const file = writeJsonl(path.join(dir, 'good.jsonl'), [
      good('first-story', '**First story**'),
      good('second-story'),
    ])
    const first = runScript('import.ts', [file, '--persist-to', persist])
    expect(first.status, first.stderr).toBe(0)
    expect(first.stdout).toContain('imported 2 article(s) (2 new or changed)')
    expect(first.stdout).toContain('nothing pending')

    const exported = exportLines(persist, dir)
    expect(exported.map((a) => a.slug)).toEqual(['first-story', 'second-story'])
    expect(exported[0]?.title).toBe('First story')
    expect(exported[0]?.publishedAt).toBe('2025-05-19T08:00:00Z')
    expect(typeof exported[0]?.id).toBe('string')

    const again = runScript('import.ts', [file, '--persist-to', persist])
    expect(again.stdout).toContain('(0 new or changed)')
    const ids = exportLines(persist, dir).map((a) => a.id)
    expect(ids).toEqual(exported.map((a) => a.id))
  })
})
