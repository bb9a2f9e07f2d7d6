// The Hono environment every route shares: the Worker's bindings and the parsed site settings.
import type { SiteConfig } from './config'

export interface AppEnv {
  Bindings: Env
  Variables: { site: SiteConfig }
}
