import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { runRefresh } from '../../src/jobs/refresh'
import { putArticle } from '../../src/storage/articles'
import { keys } from '../../src/storage/keys'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { get, kvFailing, publish, relatedLinks, select, settle, tick } from './helpers'

const MAIN = 'leaders-discuss-ceasefire-by-phone'

async function homeSlugs(): Promise<string[]> {
  const html = await (await get('/')).text()
  return (await select(html, 'ol.stories h2 a')).map((a) =>
    (a.attrs.href ?? '').replace('/articles/', ''),
  )
}

describe('the scheduled refresh', () => {
  it('builds lists and related lists from the articles, then writes nothing when idle', async () => {
    await publish(...FIXTURE_ARTICLES)
    expect(await homeSlugs()).toEqual([])
    await tick()
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
    const idle = await runRefresh(env.KV, {
      now: new Date(),
      site: readSiteConfig(env),
      writeBudget: 1000,
    })
    expect(idle.writes + idle.deletes).toBe(0)
    expect(idle.pending).toBe(0)
  })

  it('puts a new story in the lists and its peers related lists within one tick', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await publish({
      ...fixture('prisoner-exchange-agreed'),
      slug: 'second-prisoner-exchange',
      title: 'A second prisoner exchange between Ukraine and Russia',
      publishedAt: '2025-05-21T08:00:00Z',
    })
    await tick()
    expect((await homeSlugs())[0]).toBe('second-prisoner-exchange')
    const html = await (await get(`/articles/${MAIN}`)).text()
    expect(await relatedLinks(html)).toContain('second-prisoner-exchange')
  })

  it('drops a removed story from lists and related lists within one tick', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await env.KV.delete(keys.article('prisoner-exchange-agreed'))
    await tick()
    expect(await homeSlugs()).not.toContain('prisoner-exchange-agreed')
    const html = await (await get(`/articles/${MAIN}`)).text()
    expect(await relatedLinks(html)).not.toContain('prisoner-exchange-agreed')
    expect(await env.KV.get(keys.related('prisoner-exchange-agreed'))).toBeNull()
  })

  it('shows an edited headline everywhere after one tick', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await publish({ ...fixture('prisoner-exchange-agreed'), title: 'Prisoner swap confirmed' })
    await tick()
    const home = await (await get('/')).text()
    expect((await select(home, 'ol.stories h2 a')).map((a) => a.text)).toContain(
      'Prisoner swap confirmed',
    )
    const page = await (await get(`/articles/${MAIN}`)).text()
    expect((await select(page, 'section.related a')).map((a) => a.text)).toContain(
      'Prisoner swap confirmed',
    )
  })

  it('picks up an article whose change marker was lost (full pass)', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const { parseArticleInput } = await import('../../src/model/article')
    const parsed = parseArticleInput(
      { ...fixture('prisoner-exchange-agreed'), slug: 'written-without-marker' },
      { now: '2025-06-01T00:00:00Z', newId: () => '01NOMARKER' },
    )
    if (!parsed.ok) throw new Error('fixture')
    await putArticle(env.KV, parsed.value, 'm1')
    await env.KV.delete(keys.change('written-without-marker', 'm1'))
    await tick()
    expect(await homeSlugs()).toContain('written-without-marker')
  })

  it('heals a removed or corrupted derived key at the next tick', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    await env.KV.delete(keys.latest)
    await env.KV.put(keys.related(MAIN), 'not json')
    await env.KV.put(keys.theme('elections'), '{"version":1}')
    await tick()
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
    expect((await get('/themes/elections')).status).toBe(200)
    const html = await (await get(`/articles/${MAIN}`)).text()
    expect((await relatedLinks(html)).length).toBeGreaterThan(0)
  })

  it('rebuilds everything from the articles when its own state is lost', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    for (let i = 0; i < 16; i++) {
      await env.KV.delete(keys.catalog(i))
      await env.KV.delete(keys.corpus(i))
    }
    await env.KV.delete(keys.latest)
    await tick()
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
  })

  it('keeps to its write budget and finishes the rest on later ticks', async () => {
    await publish(...FIXTURE_ARTICLES)
    const first = await runRefresh(env.KV, {
      now: new Date(),
      site: readSiteConfig(env),
      writeBudget: 8,
    })
    expect(first.pending).toBeGreaterThan(0)
    let ticks = 1
    let report = first
    while (report.pending > 0 && ticks < 30) {
      report = await runRefresh(env.KV, {
        now: new Date(),
        site: readSiteConfig(env),
        writeBudget: 8,
      })
      ticks++
    }
    expect(report.pending).toBe(0)
    expect(ticks).toBeGreaterThan(1)
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
  })

  it('resumes after a tick that failed part-way, losing nothing', async () => {
    await publish(...FIXTURE_ARTICLES)
    let puts = 0
    const failing = kvFailing('put', () => {
      if (++puts > 3) throw new Error('simulated KV failure')
    })
    await expect(
      runRefresh(failing, { now: new Date(), site: readSiteConfig(env), writeBudget: 1000 }),
    ).rejects.toThrow('simulated KV failure')
    await settle()
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
    const html = await (await get(`/articles/${MAIN}`)).text()
    expect(await relatedLinks(html)).toContain('prisoner-exchange-agreed')
  })

  it('drops the related list of a story put back under embargo, and its peers drop it', async () => {
    await publish(...FIXTURE_ARTICLES)
    await settle()
    const holding = async () => {
      const out: string[] = []
      for (const a of FIXTURE_ARTICLES) {
        const text = await env.KV.get(keys.related(a.slug))
        if (text && a.slug !== MAIN && text.includes(`"slug":"${MAIN}"`)) out.push(a.slug)
      }
      return out
    }
    expect(await env.KV.get(keys.related(MAIN))).not.toBeNull()
    expect((await holding()).length).toBeGreaterThan(0)
    await publish({ ...fixture(MAIN), publishedAt: '2030-01-01T00:00:00Z' })
    await settle()
    expect(await env.KV.get(keys.related(MAIN))).toBeNull()
    expect(await holding()).toEqual([])
  })

  it('lists an embargoed story once a tick runs after its time', async () => {
    await publish({ ...fixture(MAIN), publishedAt: '2030-01-01T00:00:00Z' })
    await tick(Date.parse('2029-12-31T00:00:00Z'))
    expect(await homeSlugs()).toEqual([])
    await tick(Date.parse('2030-01-01T00:15:00Z'))
    expect(await homeSlugs()).toEqual([MAIN])
  })
})

describe('KV limits the local emulation does not enforce', () => {
  it('reads past the 25 MB bulk-get limit in smaller batches', async () => {
    await publish(...FIXTURE_ARTICLES)
    // A bulk get of more than two keys answers 413, as KV does past 25 MB of values.
    const limited = kvFailing('get', (key) => {
      if (Array.isArray(key) && key.length > 2) {
        throw new Error('KV GET_BULK failed: 413 Total size of request exceeds the limit of 25MB')
      }
    })
    const report = await runRefresh(limited, { now: new Date(), site: readSiteConfig(env) })
    expect(report.pending).toBe(0)
    expect(await homeSlugs()).toHaveLength(FIXTURE_ARTICLES.length)
  })
})
