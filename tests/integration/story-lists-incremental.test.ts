// Large sites rebuild only the story lists (and compare only the feeds and sitemaps built from
// them) that a tick's changes can reach. Forced here on the small
// fixture site (incrementalAbove: 0); after each incremental tick a full one must find nothing
// to write: the incremental lists are byte for byte what a full rebuild makes.
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'
import { type RefreshOptions, runRefresh } from '../../src/jobs/refresh'
import { getStoryList } from '../../src/storage/indexes'
import { keys } from '../../src/storage/keys'
import { FIXTURE_ARTICLES, fixture } from '../fixtures/articles'
import { kvFailing, publish } from './helpers'

const NOW = Date.parse('2025-06-01T12:00:00Z')
let minutes = 0

// Each tick 15 minutes after the last, as the cron runs.
function at(): Date {
  minutes += 15
  return new Date(NOW + minutes * 60_000)
}

function incremental(extra: Partial<RefreshOptions> = {}, kv: KVNamespace = env.KV) {
  return runRefresh(kv, {
    now: at(),
    site: readSiteConfig(env),
    incrementalAbove: 0,
    writeBudget: 1000,
    ...extra,
  })
}

// A full rebuild of every list (the small site's normal mode) writing nothing proves the
// incremental tick left every list exactly as a full rebuild makes it.
async function expectFullRebuildAgrees() {
  const full = await runRefresh(env.KV, {
    now: new Date(NOW + minutes * 60_000),
    site: readSiteConfig(env),
    writeBudget: 1000,
  })
  expect(full.listsWritten).toBe(0)
  // Feeds and sitemaps too: the full tick compares every document.
  expect(full.documentsWritten).toBe(0)
}

// A new story, newer than every fixture, in the fixture's themes.
function secondExchange() {
  return {
    ...fixture('prisoner-exchange-agreed'),
    slug: 'second-prisoner-exchange',
    title: 'A second prisoner exchange',
    publishedAt: '2025-05-21T08:00:00Z',
  }
}

async function latestSlugs(): Promise<string[]> {
  return ((await getStoryList(env.KV, keys.latest)).list?.items ?? []).map((i) => i.slug)
}

describe('incremental story lists', () => {
  beforeEach(async () => {
    minutes = 0
    await publish(...FIXTURE_ARTICLES)
    await incremental()
    await expectFullRebuildAgrees()
  })

  it('follows an addition, an edit and a removal with only the lists they reach', async () => {
    await publish(secondExchange())
    const added = await incremental()
    expect(added.listsWritten).toBeGreaterThan(0)
    expect((await latestSlugs())[0]).toBe('second-prisoner-exchange')
    await expectFullRebuildAgrees()

    await publish({ ...fixture('prisoner-exchange-agreed'), title: 'Prisoner swap confirmed' })
    await incremental()
    const ukraine = (await getStoryList(env.KV, keys.theme('ukraine-war'))).list
    expect(ukraine?.items.map((i) => i.title)).toContain('Prisoner swap confirmed')
    await expectFullRebuildAgrees()

    await env.KV.delete(keys.article('second-prisoner-exchange'))
    await incremental()
    expect(await latestSlugs()).not.toContain('second-prisoner-exchange')
    await expectFullRebuildAgrees()
  })

  it('writes no list again when a tick that failed after writing them is resumed', async () => {
    await publish(secondExchange())
    // The lists are written, then the first related list fails: the change stays pending.
    const failing = kvFailing('put', (key) => {
      if (String(key).startsWith(keys.related(''))) throw new Error('simulated KV failure')
    })
    await expect(incremental({}, failing)).rejects.toThrow('simulated KV failure')
    expect((await latestSlugs())[0]).toBe('second-prisoner-exchange')
    // The resumed tick rebuilds the same lists (the latest and theme lists compared by a digest
    // of their stored bytes) and finds every one already as it should be.
    const resumed = await incremental()
    expect(resumed.listsWritten).toBe(0)
    await expectFullRebuildAgrees()
  })

  it('drops the list of a theme whose last story leaves it', async () => {
    await publish({
      ...fixture('prisoner-exchange-agreed'),
      slug: 'only-story-of-its-theme',
      themes: [{ slug: 'lonely-theme', name: 'Lonely theme' }],
    })
    await incremental()
    expect(await env.KV.get(keys.theme('lonely-theme'))).not.toBeNull()
    await env.KV.delete(keys.article('only-story-of-its-theme'))
    await incremental()
    expect(await env.KV.get(keys.theme('lonely-theme'))).toBeNull()
    await expectFullRebuildAgrees()
  })

  it('lists a story whose embargo ended between two ticks, with no change marker', async () => {
    const release = new Date(NOW + 40 * 60_000).toISOString().replace('.000Z', 'Z')
    await publish({
      ...fixture('prisoner-exchange-agreed'),
      slug: 'embargoed',
      publishedAt: release,
    })
    await incremental() // +30 min: still under embargo, and its marker is consumed
    expect(await latestSlugs()).not.toContain('embargoed')
    await incremental() // +45 min: out of embargo
    expect((await latestSlugs())[0]).toBe('embargoed')
    await expectFullRebuildAgrees()
  })

  it('re-renders every document, reached or not, when the site settings change', async () => {
    const site = { ...readSiteConfig(env), name: 'Renamed Wire' }
    const renamed = await incremental({ site })
    expect(renamed.documentsWritten).toBeGreaterThan(0)
    const feed = await env.KV.get(keys.document('identity', '/themes/elections/feed.xml'))
    expect(feed).toContain('Renamed Wire')
    const full = await runRefresh(env.KV, {
      now: new Date(NOW + minutes * 60_000),
      site,
      writeBudget: 1000,
    })
    expect(full.documentsWritten).toBe(0)
  })

  it('compares again the documents a tight write budget left, whatever the next tick rebuilds', async () => {
    await publish({ ...fixture('prisoner-exchange-agreed'), title: 'Edited on a tight budget' })
    // Eight writes a tick: one feed group (three documents, two codings each) fits, not two.
    let report = await incremental({ writeBudget: 8 })
    expect(report.pending).toBeGreaterThan(0)
    for (let i = 0; i < 30 && report.pending > 0; i++)
      report = await incremental({ writeBudget: 8 })
    expect(report.pending).toBe(0)
    await expectFullRebuildAgrees()
  })

  it('renders at most the byte cap of documents a tick, the groups it left first the next', async () => {
    const written = new Set<string>()
    const recording = kvFailing('put', (key) => {
      const path = String(key).match(/^v1:doc:identity:(.*)$/)?.[1]
      if (path) written.add(path)
    })
    const edit = (title: string) => publish({ ...fixture('prisoner-exchange-agreed'), title })
    await edit('Edited under a byte cap')
    // A cap of one byte: the first group goes, whatever its size, and every other waits.
    let report = await incremental({ maxDocumentBytesPerTick: 1 }, recording)
    expect(report.documentsWritten).toBe(3)
    expect(report.pending).toBeGreaterThan(0)
    const firstTick = new Set(written)
    expect(firstTick.has('/feed.xml')).toBe(true)
    // The same story changes again: the whole-site feed is stale once more, but a group the
    // last tick left goes before it.
    await edit('Edited again under a byte cap')
    written.clear()
    report = await incremental({ maxDocumentBytesPerTick: 1 }, recording)
    expect(written.size).toBeGreaterThan(0)
    for (const path of written) expect(firstTick.has(path), path).toBe(false)
    for (let i = 0; i < 40 && report.pending > 0; i++)
      report = await incremental({ maxDocumentBytesPerTick: 1 })
    expect(report.pending).toBe(0)
    await expectFullRebuildAgrees()
  })

  it('re-links and renames a theme archive feed that no rebuilt month reaches', async () => {
    const elections = [{ slug: 'elections', name: 'Elections' }]
    const ukraine = [{ slug: 'ukraine-war', name: 'Ukraine war' }]
    const story = (slug: string, publishedAt: string, themes: typeof ukraine) => ({
      ...fixture('prisoner-exchange-agreed'),
      slug,
      title: `Story ${slug}`,
      publishedAt,
      themes,
    })
    // The site's months (a change to them rebuilds every list) are March to June from here on.
    await publish(
      story('march-vote', '2025-03-03T08:00:00Z', elections),
      story('april-vote', '2025-04-03T08:00:00Z', elections),
      story('june-vote', '2025-06-01T12:00:00Z', elections),
      story('april-talks', '2025-04-10T08:00:00Z', ukraine),
    )
    // No verification slice: only what the changes reach is compared.
    await incremental({ verifyListsPerTick: 0 })
    const may = () =>
      env.KV.get(keys.document('identity', '/themes/ukraine-war/archive/2025/05/feed.xml'))
    expect(await may()).toContain('/themes/ukraine-war/archive/2025/04/feed.xml')
    // Its only April story moves to March: the theme's May archive links back to March now,
    // though no story of May changed and the theme has as many archives as before.
    await publish(story('april-talks', '2025-03-10T08:00:00Z', ukraine))
    await incremental({ verifyListsPerTick: 0 })
    expect(await may()).toContain('/themes/ukraine-war/archive/2025/03/feed.xml')
    await expectFullRebuildAgrees()
    // A story of the current month, not archived, names the theme anew: every archive follows.
    const renamed = [{ slug: 'ukraine-war', name: 'War in Ukraine' }]
    await publish(story('june-talks', '2025-06-01T12:00:00Z', renamed))
    await incremental({ verifyListsPerTick: 0 })
    expect(await may()).toContain('War in Ukraine')
    await expectFullRebuildAgrees()
  })

  it('checks a sound list by its hash, and rebuilds one whose bytes were altered in place', async () => {
    // A slice over every list: the first turn builds and compares each and remembers its bytes.
    const all = { verifyListsPerTick: 100 }
    await incremental(all)
    // The next finds each one sound by its hash and source (the month archives and the theme
    // lists no change reaches are neither built nor their listing months read).
    const checked = await incremental(all)
    const storyLists = (await env.KV.list({ prefix: 'v1:list:' })).keys.length
    // All but the latest list and the theme index, which every tick rebuilds.
    expect(checked.listsSound).toBe(storyLists - 2)
    expect(checked.listsWritten).toBe(0)
    // A summary altered inside the stored archive, its source hash left as it was.
    const key = keys.month('2025-05')
    const stored = (await env.KV.get(key)) ?? ''
    const summary = fixture('prisoner-exchange-agreed').summary
    expect(stored).toContain(summary)
    await env.KV.put(key, stored.replace(summary, 'Altered in place.'))
    const healed = await incremental(all)
    expect(healed.listsSound).toBe(storyLists - 3)
    expect(healed.listsWritten).toBe(1)
    expect(await env.KV.get(key)).toBe(stored)
    await expectFullRebuildAgrees()
  })

  it('heals a list no change reaches through the rotating verification slice', async () => {
    await env.KV.delete(keys.theme('elections'))
    let ticks = 0
    while ((await env.KV.get(keys.theme('elections'))) === null && ticks < 40) {
      await incremental({ verifyListsPerTick: 1 })
      ticks++
    }
    expect(await env.KV.get(keys.theme('elections'))).not.toBeNull()
    // One key a tick: it came round within one turn of the slice over every list key.
    const listKeys = await env.KV.list({ prefix: 'v1:list:' })
    expect(ticks).toBeLessThanOrEqual(listKeys.keys.length)
    await expectFullRebuildAgrees()
  })
})
