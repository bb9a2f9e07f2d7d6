// Site settings come from wrangler.toml [vars]; they are checked once per env object so a typo
// in a deployment fails loudly on the first request instead of rendering a broken page.
import * as z from 'zod/mini'
import { isAbsoluteUrl } from './model/article'

const followLinks = z.array(z.object({ label: z.string(), url: z.string() }))

/** Site-wide settings every route, view and job reads. */
export interface SiteConfig {
  siteUrl: string
  name: string
  description: string
  language: string
  timeZone: string
  copyright: string
  followLinks: Array<{ label: string; url: string }>
  itemsPerPage: number
  relatedCount: number
  feedIdAuthority: string
  writeBudget: number
  cronIntervalMinutes: number
  /**
   * the cron trigger (as in wrangler.toml) whose invocations run the refresh job's related part
   * (vectors, related lists); null: the content part's invocations run it
   * (jobs/scheduled.ts: refreshParts)
   */
  relatedCron: string | null
  /**
   * the cron trigger whose invocations render the feeds and sitemaps (the documents part); null:
   * the content part's invocations render them
   */
  documentsCron: string | null
  /**
   * the cron trigger whose invocations take the slices of a build of the stored related index
   * (large sites, the build part); null: the related part's invocations take them
   */
  buildCron: string | null
  /** items per subscription feed document */
  feedItems: number
  /** largest write-API request body, in bytes */
  maxBodyBytes: number
  /** WebSub hub feeds advertise and the refresh job pings; null when none is configured */
  websubHub: string | null
  /** absolute URL of the publisher logo named in structured data */
  logoUrl: string
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${name} must be a positive integer, got "${value}"`)
  return n
}

function checkTimeZone(timeZone: string): string {
  // The canonical zones' names answer most settings without a formatter: an isolate's first
  // formatter loads locale data, 11 to 23 ms of every cron tick's CPU in profiles (the job
  // formats no date). Any other name (an alias, another case) is tried on a formatter, which
  // throws RangeError on an unknown zone: what we want at start-up.
  if (timeZone === 'UTC' || Intl.supportedValuesOf('timeZone').includes(timeZone)) return timeZone
  new Intl.DateTimeFormat('en', { timeZone })
  return timeZone
}

const cache = new WeakMap<object, SiteConfig>()

/** Reads and validates the site settings from the Worker's env (memoised per env object). */
export function readSiteConfig(env: Env): SiteConfig {
  const hit = cache.get(env)
  if (hit) return hit
  const siteUrl = env.SITE_URL.replace(/\/+$/, '')
  if (!isAbsoluteUrl(siteUrl))
    throw new Error(`SITE_URL must be an absolute URL, got "${env.SITE_URL}"`)
  const config: SiteConfig = {
    siteUrl,
    name: env.SITE_NAME,
    description: env.SITE_DESCRIPTION,
    language: env.SITE_LANGUAGE || 'en',
    timeZone: checkTimeZone(env.TIME_ZONE || 'UTC'),
    copyright: env.COPYRIGHT,
    followLinks: followLinks.parse(JSON.parse(env.FOLLOW_LINKS || '[]')),
    itemsPerPage: positiveInt(env.ITEMS_PER_PAGE, 'ITEMS_PER_PAGE', 20),
    relatedCount: positiveInt(env.RELATED_COUNT, 'RELATED_COUNT', 10),
    feedIdAuthority: env.FEED_ID_AUTHORITY,
    writeBudget: positiveInt(env.REFRESH_WRITE_BUDGET, 'REFRESH_WRITE_BUDGET', 500),
    cronIntervalMinutes: positiveInt(env.CRON_INTERVAL_MINUTES, 'CRON_INTERVAL_MINUTES', 15),
    relatedCron: env.RELATED_CRON?.trim() || null,
    documentsCron: env.DOCUMENTS_CRON?.trim() || null,
    buildCron: env.RELATED_BUILD_CRON?.trim() || null,
    feedItems: positiveInt(env.FEED_ITEMS, 'FEED_ITEMS', 50),
    maxBodyBytes: positiveInt(env.MAX_BODY_BYTES, 'MAX_BODY_BYTES', 1_000_000),
    websubHub: env.WEBSUB_HUB ? env.WEBSUB_HUB : null,
    // A site path follows SITE_URL, so the dev server's port and production both work.
    logoUrl: new URL(env.LOGO_URL || '/favicon.svg', `${siteUrl}/`).href,
  }
  // A feed's three documents are written together, two codings each.
  if (config.writeBudget < 6) throw new Error('REFRESH_WRITE_BUDGET must be at least 6')
  // The scheduled handler compares them with the trigger's own string, which has five fields.
  for (const [name, cron] of [
    ['RELATED_CRON', config.relatedCron],
    ['DOCUMENTS_CRON', config.documentsCron],
    ['RELATED_BUILD_CRON', config.buildCron],
  ] as const) {
    if (cron && cron.split(/\s+/).length !== 5) {
      throw new Error(`${name} must be a cron expression of five fields, got "${cron}"`)
    }
  }
  if (config.relatedCron && config.relatedCron === config.documentsCron) {
    throw new Error('RELATED_CRON and DOCUMENTS_CRON must be different triggers')
  }
  if (
    config.buildCron &&
    (config.buildCron === config.relatedCron || config.buildCron === config.documentsCron)
  ) {
    throw new Error('RELATED_BUILD_CRON must be a trigger of its own')
  }
  if (config.websubHub && !isAbsoluteUrl(config.websubHub)) {
    throw new Error(`WEBSUB_HUB must be an absolute URL, got "${config.websubHub}"`)
  }
  cache.set(env, config)
  return config
}
