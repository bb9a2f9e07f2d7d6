// The Worker's manifest: HTTP goes to the Hono app, the cron runs the refresh job.
import { app } from './app'
import { refreshFromEnv } from './jobs/scheduled'

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await refreshFromEnv(env, new Date(controller.scheduledTime), controller.cron)
  },
} satisfies ExportedHandler<Env>
