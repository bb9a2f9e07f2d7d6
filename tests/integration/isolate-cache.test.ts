// The request path's in-isolate cache inside workerd: repeated reads skip KV, and every write
// through storage in the same isolate (a publish, a refresh tick) is visible at once (D2).
import { createExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import worker from '../../src/index'
import { countingKv } from '../../src/storage/counting-kv'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { BASE, get, publish, settle, tick } from './helpers'

const AUTH = { Authorization: 'Bearer test-admin-token', 'Content-Type': 'application/json' }
const MAIN = 'leaders-discuss-ceasefire-by-phone'

/** Fetches through the Worker with a counting KV, so a test sees the binding calls it made. */
async function counted(path: string, init?: RequestInit) {
  const { kv, counts } = countingKv(env.KV)
  const res = await worker.fetch(
    new Request(`${BASE}${path}`, init),
    { ...env, KV: kv } as Env,
    createExecutionContext(),
  )
  return { res, counts }
}

describe('the in-isolate read cache', () => {
  it('answers a repeated list, article or feed request without a KV call', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    for (const path of ['/', `/articles/${MAIN}`, '/feed.xml', `/api/articles/${MAIN}`]) {
      const first = await counted(path)
      expect(first.res.status, path).toBe(200)
      expect(first.counts.reads, path).toBeLessThanOrEqual(2)
      const body = await first.res.text()
      const again = await counted(path)
      expect(again.counts, path).toEqual({ reads: 0, writes: 0, deletes: 0, lists: 0 })
      // Cached feed bytes are copied per response, so every answer is whole.
      expect(await again.res.text(), path).toBe(body)
    }
  })

  it('shows an edit on the article page at once in the isolate that served the write', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    expect(await (await get(`/articles/${MAIN}`)).text()).not.toContain('Ceasefire call ends')
    const res = await get(`/api/articles/${MAIN}`, {
      method: 'PUT',
      headers: AUTH,
      body: JSON.stringify({ ...fixture(MAIN), title: 'Ceasefire call ends without a deal' }),
    })
    expect(res.status).toBe(200)
    expect(await (await get(`/articles/${MAIN}`)).text()).toContain('Ceasefire call ends')
    const api = (await (await get(`/api/articles/${MAIN}`)).json()) as { title: string }
    expect(api.title).toBe('Ceasefire call ends without a deal')
  })

  it('forgets a cached "not found" when the article is published in the same isolate', async () => {
    expect((await get(`/articles/${MAIN}`)).status).toBe(404)
    const res = await get('/api/articles', {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify(fixture(MAIN)),
    })
    expect(res.status).toBe(201)
    expect((await get(`/articles/${MAIN}`)).status).toBe(200)
  })

  it('answers 410 at once after a delete in the same isolate', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    expect((await get(`/articles/${MAIN}`)).status).toBe(200)
    const res = await get(`/api/articles/${MAIN}`, { method: 'DELETE', headers: AUTH })
    expect(res.status).toBe(204)
    expect((await get(`/articles/${MAIN}`)).status).toBe(410)
  })

  it('shows lists and feeds a tick rewrote at once, not after the cache TTL', async () => {
    await publish(...FIXTURE_ARTICLES.slice(0, 2))
    await settle()
    const home = await (await get('/')).text()
    const feed = await (await get('/feed.xml')).text()
    const added = FIXTURE_ARTICLES[2]
    if (!added) throw new Error('fixture')
    expect(home).not.toContain(added.slug)
    await publish(added)
    await tick(Date.now() + 1000)
    expect(await (await get('/')).text()).toContain(added.slug)
    expect(await (await get('/feed.xml')).text()).not.toBe(feed)
  })
})
