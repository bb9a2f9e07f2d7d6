import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type DevServer, ROOT, scratch, startDev } from './cli'

const seedMain = JSON.parse(
  readFileSync(path.join(ROOT, 'data', 'articles.jsonl'), 'utf8').split('\n')[0] as string,
)

describe('npm run dev', () => {
  const servers: DevServer[] = []
  afterAll(() => {
    for (const server of servers) server.stop()
  })

  it('seeds local KV on first start and serves the article with its More on theme list', async () => {
    const dev = await startDev(scratch())
    servers.push(dev)
    const { port } = dev
    expect(dev.output()).toContain('seeded 21 article(s)')

    const base = `http://127.0.0.1:${port}`
    const page = await fetch(`${base}/articles/${seedMain.slug}`)
    expect(page.status).toBe(200)
    const html = await page.text()
    const related = html.split('id="more-on-theme"')[1] ?? ''
    const links = related.match(/<li>/g) ?? []
    expect(links.length).toBeGreaterThanOrEqual(5)
    // The page's absolute links use the port the dev server serves on.
    expect(html).toContain(
      `<link rel="canonical" href="http://localhost:${port}/articles/${seedMain.slug}"`,
    )

    const scheduled = await fetch(`${base}/__scheduled`)
    expect(scheduled.status).toBe(200)
  })
})
