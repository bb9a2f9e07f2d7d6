// What the scheduled handler runs. `/__scheduled` under `wrangler dev --test-scheduled` fires
// with an empty cron string; an empty or unknown cron means "refresh" (D8).
import { readSiteConfig, type SiteConfig } from '../config'
import { REFRESH_PARTS, type RefreshPart, type RefreshReport, runRefresh } from './refresh'

/**
 * The parts of the refresh job a cron invocation runs. RELATED_CRON's trigger runs the related
 * part, DOCUMENTS_CRON's the documents (feeds and sitemaps; on a site that builds its related
 * index in slices, the vectors of what changed too) and RELATED_BUILD_CRON's the build of the
 * stored related index in slices, each invocation under its own CPU limit; every other
 * trigger runs the content part and whichever of the others has no trigger of its own (the
 * build goes with the related part). An empty cron (`/__scheduled`, the import) runs the whole job.
 */
export function refreshParts(
  cron: string,
  site: Pick<SiteConfig, 'relatedCron' | 'documentsCron' | 'buildCron'>,
): RefreshPart[] {
  if (cron === '') return [...REFRESH_PARTS]
  // Without a trigger of its own the build goes with the related part, wherever that runs.
  if (cron === site.relatedCron) return site.buildCron ? ['related'] : ['related', 'build']
  if (cron === site.documentsCron) return ['documents']
  if (cron === site.buildCron) return ['build']
  return REFRESH_PARTS.filter(
    (part) =>
      part === 'content' ||
      (part === 'related' && !site.relatedCron) ||
      (part === 'documents' && !site.documentsCron) ||
      (part === 'build' && !site.buildCron && !site.relatedCron),
  )
}

/** Runs one refresh invocation with the site's settings and logs what it did. */
export async function refreshFromEnv(env: Env, now: Date, cron = ''): Promise<RefreshReport> {
  const site = readSiteConfig(env)
  const parts = refreshParts(cron, site)
  const report = await runRefresh(env.KV, { now, site, parts })
  const { errors, ...figures } = report
  const part = parts.join('+')
  console.log(`refresh tick${cron ? ` (${cron})` : ''}: ${JSON.stringify({ part, ...figures })}`)
  return report
}
