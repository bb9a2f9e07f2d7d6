import { env } from 'cloudflare:workers'
import { XMLParser } from 'fast-xml-parser'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { runRefresh } from '../../src/jobs/refresh'
import { keys } from '../../src/storage/keys'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { get, publish, select, settle, tick } from './helpers'

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' })
const asArray = <T>(v: T | T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v]

interface RssItem {
  title: string
  guid: { '#text': string }
  'dc:creator'?: string
}

async function rssItems(path: string): Promise<RssItem[]> {
  const res = await get(path)
  expect(res.status).toBe(200)
  return asArray(xml.parse(await res.text()).rss.channel.item)
}

describe('feeds', () => {
  it('serves RSS, Atom and JSON Feed with the same ids, built by the refresh job', async () => {
    await publish(...FIXTURE_ARTICLES)
    expect((await get('/feed.xml')).status).toBe(404)
    await settle()

    const rss = await get('/feed.xml')
    expect(rss.headers.get('content-type')).toBe('application/rss+xml; charset=utf-8')
    const channel = xml.parse(await rss.text()).rss.channel
    const items = asArray<RssItem>(channel.item)
    expect(items.map((i) => i.title)[0]).toBe('Leaders discuss a ceasefire in Ukraine by phone')
    expect(items).toHaveLength(FIXTURE_ARTICLES.length)
    const selfLink = asArray<{ '@rel': string; '@href': string }>(channel['atom:link']).find(
      (l) => l['@rel'] === 'self',
    )
    expect(selfLink?.['@href']).toBe('https://news.test/feed.xml')
    expect(items[0]?.['dc:creator']).toBe('Test Desk')

    const atom = await get('/atom.xml')
    expect(atom.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8')
    const entries = asArray<{ id: string }>(xml.parse(await atom.text()).feed.entry)

    const json = await get('/feed.json')
    expect(json.headers.get('content-type')).toBe('application/feed+json; charset=utf-8')
    const feed = (await json.json()) as { version: string; items: Array<{ id: string }> }
    expect(feed.version).toBe('https://jsonfeed.org/version/1.1')

    const rssIds = items.map((i) => i.guid['#text'])
    expect(rssIds[0]).toMatch(/^tag:news\.test,2025:/)
    expect(entries.map((e) => e.id)).toEqual(rssIds)
    expect(feed.items.map((i) => i.id)).toEqual(rssIds)
  })

  it('serves one feed per theme, linked from the theme page', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const items = await rssItems('/themes/elections/feed.xml')
    expect(items.map((i) => i.title).sort()).toEqual([
      'Europe welcomes the Romanian election result',
      'Romania elects the centrist mayor of Bucharest as president',
    ])
    const page = await (await get('/themes/elections')).text()
    const alternates = (await select(page, 'link[rel="alternate"]')).map((l) => l.attrs.href)
    expect(alternates).toEqual([
      'https://news.test/themes/elections/feed.xml',
      'https://news.test/themes/elections/atom.xml',
      'https://news.test/themes/elections/feed.json',
    ])
    expect((await get('/themes/no-such-theme/feed.xml')).status).toBe(404)
  })

  it('answers conditional requests with a bodiless 304 that keeps Vary', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const first = await get('/feed.xml')
    const etag = first.headers.get('etag') ?? ''
    const modified = first.headers.get('last-modified') ?? ''
    expect(etag).toMatch(/^"[0-9a-f]+"$/)
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await get('/feed.xml', { headers: { 'If-None-Match': inm } })
      expect(res.status, inm).toBe(304)
      expect(await res.text()).toBe('')
      expect(res.headers.get('vary')).toBe('Accept-Encoding')
      expect(res.headers.get('etag')).toBe(etag)
    }
    expect((await get('/feed.xml', { headers: { 'If-Modified-Since': modified } })).status).toBe(
      304,
    )
    // If-None-Match decides when present, even if If-Modified-Since would say 304.
    const mismatch = await get('/feed.xml', {
      headers: { 'If-None-Match': '"stale"', 'If-Modified-Since': modified },
    })
    expect(mismatch.status).toBe(200)
  })

  it('gzips only for clients that ask, with a distinct ETag per coding', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const plain = await get('/atom.xml', { headers: { 'Accept-Encoding': 'identity' } })
    expect(plain.headers.get('content-encoding')).toBeNull()
    const zipped = await get('/atom.xml', { headers: { 'Accept-Encoding': 'gzip, deflate' } })
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    expect(zipped.headers.get('etag')).not.toBe(plain.headers.get('etag'))
    expect(zipped.headers.get('vary')).toBe('Accept-Encoding')
    // The stored gzip copy is a gzip stream of exactly the identity copy's bytes, and smaller.
    const stored = async (coding: 'identity' | 'gzip') =>
      new Uint8Array(
        (await env.KV.get(keys.document(coding, '/atom.xml'), 'arrayBuffer')) ?? new ArrayBuffer(0),
      )
    const identity = await stored('identity')
    const gzipped = await stored('gzip')
    expect([gzipped[0], gzipped[1]]).toEqual([0x1f, 0x8b])
    const gunzipped = await new Response(
      new Blob([gzipped]).stream().pipeThrough(new DecompressionStream('gzip')),
    ).arrayBuffer()
    expect(new Uint8Array(gunzipped)).toEqual(identity)
    expect(identity.byteLength).toBeGreaterThan(1000)
    expect(gzipped.byteLength).toBeLessThan(identity.byteLength / 2)
    expect(
      (await get('/atom.xml', { headers: { 'Accept-Encoding': 'gzip;q=0' } })).headers.get(
        'content-encoding',
      ),
    ).toBeNull()
  })

  it('answers HEAD with the Content-Length of the body and never redirects', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    for (const path of ['/feed.xml', '/atom.xml', '/feed.json', '/themes/russia/feed.json']) {
      const body = await (
        await get(path, { headers: { 'Accept-Encoding': 'identity' } })
      ).arrayBuffer()
      const head = await get(path, { method: 'HEAD', headers: { 'Accept-Encoding': 'identity' } })
      expect(head.status, path).toBe(200)
      expect(head.headers.get('content-length'), path).toBe(String(body.byteLength))
    }
    expect((await get('/feed.xml', { method: 'POST' })).status).toBe(405)
  })

  it('drops a deleted article within one tick; If-Modified-Since alone sees the change', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle(undefined)
    const before = await get('/feed.xml')
    const modified = before.headers.get('last-modified') ?? ''
    await env.KV.delete(keys.article('prisoner-exchange-agreed'))
    // The next tick runs at least a second later, as a cron does.
    await tick(Date.now() + 1000)
    const after = await get('/feed.xml', { headers: { 'If-Modified-Since': modified } })
    expect(after.status).toBe(200)
    const titles = asArray<RssItem>(xml.parse(await after.text()).rss.channel.item).map(
      (i) => i.title,
    )
    expect(titles).not.toContain('Ukraine and Russia agree a prisoner exchange')
    expect(Date.parse(after.headers.get('last-modified') ?? '')).toBeGreaterThan(
      Date.parse(modified),
    )
  })

  it('keeps Last-Modified when a tick renders the same bytes, and writes nothing', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const before = (await get('/feed.xml')).headers.get('last-modified')
    const idle = await runRefresh(env.KV, { now: new Date(), site: readSiteConfig(env) })
    expect(idle.writes + idle.deletes).toBe(0)
    expect((await get('/feed.xml')).headers.get('last-modified')).toBe(before)
  })

  it('survives hostile text in the whole pipeline', async () => {
    await publish({
      ...fixture('prisoner-exchange-agreed'),
      title: 'Tom & Jerry: 5 < 6 ]]>]]> \u0008\uFFFE \ud800 🚀 שלום',
      body: 'Hostile ]]>]]> body with <script>alert(1)</script> and [x](javascript:alert(1))',
    })
    await settle()
    const items = await rssItems('/feed.xml')
    expect(items[0]?.title).toBe('Tom & Jerry: 5 < 6 ]]>]]> 🚀 שלום')
    const atomText = await (await get('/atom.xml')).text()
    expect(atomText).not.toMatch(/[\u0008\uFFFE]/)
    const feed = (await (await get('/feed.json')).json()) as {
      items: Array<{ title: string; content_html: string }>
    }
    expect(feed.items[0]?.content_html).not.toContain('<script>')
    expect(feed.items[0]?.content_html).not.toMatch(/href="javascript:/i)
  })

  it('serves RFC 5005 archives for past months, linked by prev-archive', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const channel = xml.parse(await (await get('/feed.xml')).text()).rss.channel
    const prev = asArray<{ '@rel': string; '@href': string }>(channel['atom:link']).find(
      (l) => l['@rel'] === 'prev-archive',
    )
    expect(prev?.['@href']).toBe('https://news.test/archive/2025/05/feed.xml')
    const archive = await get('/archive/2025/05/feed.xml')
    expect(archive.status).toBe(200)
    expect(archive.headers.get('cache-control')).toContain('max-age=2592000')
    const archived = xml.parse(await archive.text()).rss.channel
    expect(archived['fh:archive']).toBeDefined()
    expect(asArray(archived.item)).toHaveLength(FIXTURE_ARTICLES.length)
  })
})
