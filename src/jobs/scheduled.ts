// What the scheduled handler runs. `/__scheduled` under `wrangler dev --test-scheduled` fires
// with an empty cron string; an empty or unknown cron means "refresh" (D8).
import { readSiteConfig } from '../config'
import { type RefreshPart, type RefreshReport, runRefresh } from './refresh'

/**
 * The part of the refresh job a cron invocation runs. With RELATED_CRON set, its trigger runs the
 * related part and every other trigger the rest, each invocation under its own CPU limit; an
 * empty cron (`/__scheduled`, the import) runs the whole job, as every trigger does without it.
 */
export function refreshPart(cron: string, relatedCron: string | null): RefreshPart {
  if (!relatedCron || cron === '') return 'all'
  return cron === relatedCron ? 'related' : 'content'
}

/** Runs one refresh invocation with the site's settings and logs what it did. */
export async function refreshFromEnv(env: Env, now: Date, cron = ''): Promise<RefreshReport> {
  const site = readSiteConfig(env)
  const part = refreshPart(cron, site.relatedCron)
  const report = await runRefresh(env.KV, { now, site, part })
  const { errors, ...figures } = report
  console.log(`refresh tick${cron ? ` (${cron})` : ''}: ${JSON.stringify({ part, ...figures })}`)
  return report
}
