import { createExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import worker from '../../src/index'
import { countingKv } from '../../src/storage/counting-kv'
import { keys } from '../../src/storage/keys'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { BASE, get, kvFailing, select, settle, tick } from './helpers'

const AUTH = { Authorization: 'Bearer test-admin-token' }
const JSON_TYPE = { 'Content-Type': 'application/json' }
const MAIN = 'leaders-discuss-ceasefire-by-phone'

function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return get(path, {
    method,
    headers: { ...AUTH, ...JSON_TYPE, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
}

/** Calls the Worker with a changed environment (no token, a failing KV). */
function callWith(overrides: Partial<Env>, request: Request) {
  return worker.fetch(request, { ...env, ...overrides } as Env, createExecutionContext())
}

async function allKeys(): Promise<string[]> {
  return (await env.KV.list()).keys.map((k) => k.name)
}

describe('POST /api/articles', () => {
  it('creates an article with a server id and updatedAt, live at once', async () => {
    const res = await send('POST', '/api/articles', fixture(MAIN))
    expect(res.status).toBe(201)
    expect(res.headers.get('location')).toBe(`/api/articles/${MAIN}`)
    const body = (await res.json()) as Record<string, string>
    expect(body.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(body.title).toBe('Leaders discuss a ceasefire in Ukraine by phone')
    expect(Date.parse(body.updatedAt as string)).toBeGreaterThan(Date.now() - 60_000)
    expect((await get(`/articles/${MAIN}`)).status).toBe(200)
    expect((await get(`/api/articles/${MAIN}`)).status).toBe(200)
  })

  it('writes at most 3 KV keys and nothing shared', async () => {
    const { kv, counts } = countingKv(env.KV)
    const res = await callWith(
      { KV: kv },
      new Request(`${BASE}/api/articles`, {
        method: 'POST',
        headers: { ...AUTH, ...JSON_TYPE },
        body: JSON.stringify(fixture(MAIN)),
      }),
    )
    expect(res.status).toBe(201)
    expect(counts.writes).toBeLessThanOrEqual(3)
    const written = await allKeys()
    expect(written.every((k) => k === keys.article(MAIN) || k.startsWith(keys.changePrefix))).toBe(
      true,
    )
  })

  it('answers 400 naming each bad field, and writes nothing', async () => {
    const res = await send('POST', '/api/articles', {
      ...fixture(MAIN),
      slug: 'Bad Slug',
      publishedAt: 'yesterday',
      id: 'mine',
    })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { errors: Array<{ field: string; message: string }> }
    expect(body.errors.map((e) => e.field)).toEqual(['id'])
    const res2 = await send('POST', '/api/articles', {
      ...fixture(MAIN),
      slug: 'Bad Slug',
      publishedAt: 'yesterday',
    })
    const fields = ((await res2.json()) as { errors: Array<{ field: string }> }).errors.map(
      (e) => e.field,
    )
    expect(fields).toEqual(expect.arrayContaining(['slug', 'publishedAt']))
    expect(await allKeys()).toEqual([])
  })

  it('answers 415 for a body that is not JSON and 400 for broken JSON', async () => {
    const res = await send('POST', '/api/articles', 'slug=x', {
      'Content-Type': 'application/x-www-form-urlencoded',
    })
    expect(res.status).toBe(415)
    expect((await send('POST', '/api/articles', '{"slug":')).status).toBe(400)
    expect(await allKeys()).toEqual([])
  })

  it('answers 413 over the size limit', async () => {
    const res = await send('POST', '/api/articles', {
      ...fixture(MAIN),
      body: 'x'.repeat(1_100_000),
    })
    expect(res.status).toBe(413)
    expect(await allKeys()).toEqual([])
  })

  it('answers 409 when the slug is taken', async () => {
    expect((await send('POST', '/api/articles', fixture(MAIN))).status).toBe(201)
    expect((await send('POST', '/api/articles', fixture(MAIN))).status).toBe(409)
  })
})

describe('authentication', () => {
  it('answers 401 without the bearer token, and writes nothing', async () => {
    const res = await get('/api/articles', {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify(fixture(MAIN)),
    })
    expect(res.status).toBe(401)
    const wrong = await send('POST', '/api/articles', fixture(MAIN), {
      Authorization: 'Bearer nope',
    })
    expect(wrong.status).toBe(401)
    expect(await allKeys()).toEqual([])
  })

  it('fails closed with 503 when no token is configured', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const path = method === 'POST' ? '/api/articles' : `/api/articles/${MAIN}`
      const res = await callWith(
        { ADMIN_TOKEN: undefined },
        new Request(`${BASE}${path}`, { method, headers: { ...AUTH, ...JSON_TYPE }, body: '{}' }),
      )
      expect(res.status, method).toBe(503)
    }
    expect(await allKeys()).toEqual([])
    expect(
      (await callWith({ ADMIN_TOKEN: undefined }, new Request(`${BASE}/api/status`))).status,
    ).toBe(200)
  })

  it('refuses cross-origin writes and sends no CORS headers on them', async () => {
    const res = await send('POST', '/api/articles', fixture(MAIN), {
      Origin: 'https://evil.example',
    })
    expect(res.status).toBe(403)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(await allKeys()).toEqual([])
  })
})

describe('PUT, PATCH and DELETE /api/articles/:slug', () => {
  it('PUT creates, then replaces; a PUT that changes nothing writes nothing and keeps updatedAt', async () => {
    const created = await send('PUT', `/api/articles/${MAIN}`, fixture(MAIN))
    expect(created.status).toBe(201)
    const first = (await created.json()) as Record<string, string>
    const { kv, counts } = countingKv(env.KV)
    const same = await callWith(
      { KV: kv },
      new Request(`${BASE}/api/articles/${MAIN}`, {
        method: 'PUT',
        headers: { ...AUTH, ...JSON_TYPE },
        body: JSON.stringify(fixture(MAIN)),
      }),
    )
    expect(same.status).toBe(200)
    expect(counts.writes).toBe(0)
    expect(((await same.json()) as Record<string, string>).updatedAt).toBe(first.updatedAt)
    const replaced = await send('PUT', `/api/articles/${MAIN}`, {
      ...fixture(MAIN),
      title: 'New headline',
    })
    const second = (await replaced.json()) as Record<string, string>
    expect(second.title).toBe('New headline')
    expect(second.id).toBe(first.id)
    expect(second.publishedAt).toBe(first.publishedAt)
  })

  it('PUT rejects a slug that differs from the URL and a moved publishedAt', async () => {
    await send('PUT', `/api/articles/${MAIN}`, fixture(MAIN))
    expect(
      (await send('PUT', `/api/articles/${MAIN}`, { ...fixture(MAIN), slug: 'other' })).status,
    ).toBe(400)
    const moved = await send('PUT', `/api/articles/${MAIN}`, {
      ...fixture(MAIN),
      publishedAt: '2025-05-01T00:00:00Z',
    })
    expect(moved.status).toBe(400)
    expect(((await moved.json()) as { errors: Array<{ field: string }> }).errors[0]?.field).toBe(
      'publishedAt',
    )
  })

  it('PATCH merges (null removes), needs merge-patch+json, and 404s for nothing', async () => {
    await send('PUT', `/api/articles/${MAIN}`, fixture(MAIN))
    const patched = await send(
      'PATCH',
      `/api/articles/${MAIN}`,
      { title: 'Patched', subtitle: null },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    )
    expect(patched.status).toBe(200)
    const body = (await patched.json()) as Record<string, unknown>
    expect(body.title).toBe('Patched')
    expect(body.subtitle).toBeUndefined()
    expect(body.summary).toBe(fixture(MAIN).summary)
    expect((await send('PATCH', `/api/articles/${MAIN}`, { title: 'x' })).status).toBe(415)
    const missing = await send(
      'PATCH',
      '/api/articles/no-such',
      { title: 'x' },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    )
    expect(missing.status).toBe(404)
    const bad = await send(
      'PATCH',
      `/api/articles/${MAIN}`,
      { themes: 'nope' },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    )
    expect(bad.status).toBe(400)
  })

  it('honours If-Match: 412 on a stale ETag', async () => {
    await send('PUT', `/api/articles/${MAIN}`, fixture(MAIN))
    const etag = (await get(`/api/articles/${MAIN}`)).headers.get('etag') ?? ''
    expect(etag).toMatch(/^"[0-9a-f]+"$/)
    const ok = await send(
      'PUT',
      `/api/articles/${MAIN}`,
      { ...fixture(MAIN), title: 'One' },
      { 'If-Match': etag },
    )
    expect(ok.status).toBe(200)
    const stale = await send(
      'PUT',
      `/api/articles/${MAIN}`,
      { ...fixture(MAIN), title: 'Two' },
      { 'If-Match': etag },
    )
    expect(stale.status).toBe(412)
    expect(((await (await get(`/api/articles/${MAIN}`)).json()) as { title: string }).title).toBe(
      'One',
    )
  })

  it('DELETE answers 410 on the page and API, and drops the story everywhere after a tick', async () => {
    for (const a of FIXTURE_ARTICLES) await send('PUT', `/api/articles/${a.slug}`, a)
    await settle()
    const res = await send('DELETE', '/api/articles/prisoner-exchange-agreed')
    expect(res.status).toBe(204)
    expect((await get('/articles/prisoner-exchange-agreed')).status).toBe(410)
    expect((await get('/api/articles/prisoner-exchange-agreed')).status).toBe(410)
    expect((await send('DELETE', '/api/articles/prisoner-exchange-agreed')).status).toBe(410)
    expect((await send('DELETE', '/api/articles/never-existed')).status).toBe(404)
    await tick()
    const home = await (await get('/')).text()
    expect(home).not.toContain('prisoner-exchange-agreed')
    const page = await (await get(`/articles/${MAIN}`)).text()
    expect(page).not.toContain('prisoner-exchange-agreed')
    const listing = (await (await get('/api/articles')).json()) as {
      articles: Array<{ slug: string }>
    }
    expect(listing.articles.map((a) => a.slug)).not.toContain('prisoner-exchange-agreed')
  })

  it('answers 503 with Retry-After when KV answers 429, with the record unwritten', async () => {
    const busy = kvFailing('put', (key) => {
      if (String(key).startsWith(keys.articlePrefix)) {
        throw new Error('KV PUT failed: 429 Too Many Requests')
      }
    })
    const res = await callWith(
      { KV: busy },
      new Request(`${BASE}/api/articles`, {
        method: 'POST',
        headers: { ...AUTH, ...JSON_TYPE },
        body: JSON.stringify(fixture(MAIN)),
      }),
    )
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBeTruthy()
    expect(await env.KV.get(keys.article(MAIN))).toBeNull()
    await settle()
    expect((await get('/')).status).toBe(200)
  })
})

describe('nothing lost under concurrency', () => {
  it('50 concurrent publishes all appear in the home list and the API listing after one tick', async () => {
    const slugs = Array.from({ length: 50 }, (_, i) => `concurrent-story-${i}`)
    const results = await Promise.all(
      slugs.map((slug, i) =>
        send('POST', '/api/articles', {
          ...fixture('prisoner-exchange-agreed'),
          slug,
          title: `Concurrent story ${i}`,
          publishedAt: new Date(Date.UTC(2025, 4, 1, 0, i)).toISOString(),
        }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(slugs.map(() => 201))
    await tick()
    const listed: string[] = []
    let cursor: string | null = null
    do {
      const page = (await (
        await get(`/api/articles${cursor ? `?cursor=${cursor}` : ''}`)
      ).json()) as {
        articles: Array<{ slug: string }>
        cursor: string | null
      }
      listed.push(...page.articles.map((a) => a.slug))
      cursor = page.cursor
    } while (cursor)
    expect(new Set(listed)).toEqual(new Set(slugs))
    const onHome: string[] = []
    for (let page = 1; page <= 3; page++) {
      const html = await (await get(`/page/${page}`)).text()
      onHome.push(
        ...(await select(html, 'ol.stories h2 a')).map((a) => (a.attrs.href ?? '').slice(10)),
      )
    }
    expect(new Set(onHome)).toEqual(new Set(slugs))
  })

  it('20 concurrent edits of one article leave one submitted version, shown everywhere after a tick', async () => {
    for (const a of FIXTURE_ARTICLES) await send('PUT', `/api/articles/${a.slug}`, a)
    await settle()
    const titles = Array.from({ length: 20 }, (_, i) => `Edit number ${i}`)
    const results = await Promise.all(
      titles.map((title) => send('PUT', `/api/articles/${MAIN}`, { ...fixture(MAIN), title })),
    )
    expect(results.every((r) => r.status === 200)).toBe(true)
    const final = (await (await get(`/api/articles/${MAIN}`)).json()) as { title: string }
    expect(titles).toContain(final.title)
    await tick()
    const home = await (await get('/')).text()
    const homeTitles = (await select(home, 'ol.stories h2 a')).map((a) => a.text)
    expect(homeTitles).toContain(final.title)
    expect(homeTitles.filter((t) => t.startsWith('Edit number'))).toHaveLength(1)
    const peer = await (await get('/articles/prisoner-exchange-agreed')).text()
    const relatedTitles = (await select(peer, 'section.related a')).map((a) => a.text)
    expect(relatedTitles).toContain(final.title)
  })
})
