// Test helpers inside workerd: write articles the way every writer does (validated, through
// storage), fire the real scheduled handler, and fetch through the real Worker.
import { createScheduledController, SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import worker from '../../src/index'
import { type ArticleInput, parseArticleInput } from '../../src/model/article'
import { putArticle } from '../../src/storage/articles'
import { getStatus } from '../../src/storage/indexes'

export const BASE = 'https://news.test'
let counter = 0

/** Validates and stores articles as the import does (article key + change marker). */
export async function publish(...inputs: ArticleInput[]): Promise<void> {
  for (const input of inputs) {
    const parsed = parseArticleInput(input, {
      now: '2025-06-01T00:00:00Z',
      newId: () => `01TEST${String(++counter).padStart(20, '0')}`,
    })
    if (!parsed.ok) throw new Error(`bad fixture ${input.slug}: ${JSON.stringify(parsed.errors)}`)
    await putArticle(env.KV, parsed.value, `s${String(++counter).padStart(8, '0')}`)
  }
}

/** Fires the Worker's scheduled handler as the crons would: one tick, every trigger. */
export async function tick(scheduledTime = Date.now()): Promise<void> {
  // wrangler.toml's four triggers: the content part, the documents part (DOCUMENTS_CRON), the
  // related part (RELATED_CRON), then the related index's build (RELATED_BUILD_CRON).
  for (const cron of [
    '*/15 * * * *',
    env.DOCUMENTS_CRON,
    env.RELATED_CRON,
    env.RELATED_BUILD_CRON,
  ]) {
    if (!cron) continue
    await worker.scheduled(createScheduledController({ scheduledTime, cron }), env)
  }
}

/** Ticks until the job reports nothing pending. */
export async function settle(maxTicks = 20): Promise<number> {
  for (let n = 1; n <= maxTicks; n++) {
    await tick()
    const status = await getStatus(env.KV)
    if (status && status.pending === 0) return n
  }
  throw new Error('refresh did not settle')
}

/** Fetches a path from the Worker. */
export function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init)
}

/** One element as HTMLRewriter (workerd's own HTML parser) saw it. */
export interface Found {
  attrs: Record<string, string>
  text: string
}

/** Every element matching a CSS selector, with its attributes and text. */
export async function select(html: string, selector: string): Promise<Found[]> {
  const found: Found[] = []
  await new HTMLRewriter()
    .on(selector, {
      element(el) {
        const item: Found = { attrs: Object.fromEntries(el.attributes), text: '' }
        found.push(item)
      },
      text(chunk) {
        const last = found.at(-1)
        if (last) last.text += chunk.text
      },
    })
    .transform(new Response(html))
    .text()
  for (const f of found)
    f.text = f.text
      .replace(/&amp;/g, '&')
      .replace(/&#39;/g, "'")
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
  return found
}

/** The slugs the More on theme list links to, in page order. */
export async function relatedLinks(html: string): Promise<string[]> {
  const links = await select(html, 'section.related li a')
  return links.map((a) => (a.attrs.href ?? '').replace('/articles/', ''))
}

/**
 * The real KV with a platform behaviour local emulation never shows (a 429, a 413, a failure
 * part-way): `before` runs ahead of each call to the named method and may throw.
 */
export function kvFailing(
  method: 'get' | 'put',
  before: (...args: unknown[]) => void,
): KVNamespace {
  return new Proxy(env.KV, {
    get(target, prop) {
      const value = Reflect.get(target, prop)
      if (typeof value !== 'function') return value
      if (prop !== method) return value.bind(target)
      return (...args: unknown[]) => {
        before(...args)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}
