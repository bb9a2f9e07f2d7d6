import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, scratch } from './cli'

function freePort(): Promise<number> {
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

const seedMain = JSON.parse(
  readFileSync(path.join(ROOT, 'data', 'articles.jsonl'), 'utf8').split('\n')[0] as string,
)

describe('npm run dev', () => {
  const children: Array<ReturnType<typeof spawn>> = []
  afterAll(() => {
    for (const child of children) if (child.pid) process.kill(-child.pid, 'SIGTERM')
  })

  it('seeds local KV on first start and serves the article with its More on theme list', async () => {
    const port = await freePort()
    const child = spawn(
      'npm',
      ['run', 'dev', '--', '--port', String(port), '--persist-to', scratch()],
      {
        cwd: ROOT,
        detached: true,
        env: {
          ...process.env,
          CLOUDFLARE_CF_FETCH_ENABLED: 'false',
          WRANGLER_SEND_METRICS: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.push(child)
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dev server not ready:\n${output}`)), 90_000)
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
    expect(output).toContain('seeded 21 article(s)')

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
