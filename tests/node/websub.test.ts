import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type LocalWorker, startLocalWorker } from '../../scripts/local-worker'
import { writeArticles } from '../../scripts/write-articles'
import { parseArticleInput } from '../../src/model/article'
import { getStatus } from '../../src/storage/indexes'
import { scratch } from './cli'

/** A tiny WebSub hub on loopback that records publish pings. */
function startHub(
  status = 204,
): Promise<{ server: Server; url: string; pings: URLSearchParams[] }> {
  const pings: URLSearchParams[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      pings.push(new URLSearchParams(body))
      res.writeHead(status).end()
    })
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({ server, url: `http://127.0.0.1:${port}/hub`, pings })
    }),
  )
}

const article = (slug: string) => {
  const parsed = parseArticleInput(
    {
      slug,
      title: `Story ${slug}`,
      summary: 'A summary.',
      body: 'A body.',
      themes: [{ slug: 'europe', name: 'Europe' }],
      publishedAt: '2025-05-19T10:00:00Z',
    },
    { now: '2025-06-01T00:00:00Z', newId: () => `01WEBSUB${slug.toUpperCase().replace(/-/g, '')}` },
  )
  if (!parsed.ok) throw new Error('bad fixture')
  return { article: parsed.value, hadId: false }
}

describe('WebSub pings from the refresh tick', () => {
  let worker: LocalWorker | null = null
  let server: Server | null = null
  afterEach(async () => {
    await worker?.dispose()
    server?.close()
    worker = null
    server = null
  })

  it('pings the hub once per tick with every changed feed URL', async () => {
    const hub = await startHub()
    server = hub.server
    worker = await startLocalWorker({
      persistTo: scratch(),
      vars: { WEBSUB_HUB: hub.url, SITE_URL: 'https://news.test' },
    })
    await writeArticles(worker.kv, [article('first-story'), article('second-story')])
    await worker.tick()
    expect(hub.pings).toHaveLength(1)
    const ping = hub.pings[0] as URLSearchParams
    expect(ping.get('hub.mode')).toBe('publish')
    expect(ping.getAll('hub.url')).toEqual(
      expect.arrayContaining([
        'https://news.test/feed.xml',
        'https://news.test/atom.xml',
        'https://news.test/feed.json',
        'https://news.test/themes/europe/feed.xml',
      ]),
    )
    // The feeds advertise the hub.
    const rss = await (await worker.mf.dispatchFetch('https://news.test/feed.xml')).text()
    expect(rss).toContain(`href="${hub.url}"`)
    // Nothing changed: no ping.
    await worker.tick()
    expect(hub.pings).toHaveLength(1)
  })

  it('finishes the tick when the hub is down', async () => {
    const hub = await startHub(500)
    server = hub.server
    worker = await startLocalWorker({ persistTo: scratch(), vars: { WEBSUB_HUB: hub.url } })
    await writeArticles(worker.kv, [article('lonely-story')])
    await worker.tick()
    expect(hub.pings.length).toBeGreaterThanOrEqual(2)
    const status = await getStatus(worker.kv)
    expect(status?.pending).toBe(0)
    expect(status?.articles).toBe(1)
  })
})
