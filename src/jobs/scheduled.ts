// What the scheduled handler runs. `/__scheduled` under `wrangler dev --test-scheduled` fires
// with an empty cron string; an empty or unknown cron means "refresh" (D8).
import { readSiteConfig } from '../config'
import { type RefreshReport, runRefresh } from './refresh'

/** Runs one refresh tick with the site's settings and logs what it did. */
export async function refreshFromEnv(env: Env, now: Date, cron = ''): Promise<RefreshReport> {
  const site = readSiteConfig(env)
  const report = await runRefresh(env.KV, { now, site })
  const { errors, ...figures } = report
  console.log(`refresh tick${cron ? ` (${cron})` : ''}: ${JSON.stringify(figures)}`)
  return report
}
