// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; CI's generated types
// must not depend on a developer's .dev.vars either. Declared here, once.
declare namespace Cloudflare {
  interface Env {
    /** bearer token for the write API (`wrangler secret put ADMIN_TOKEN`; locally .dev.vars) */
    ADMIN_TOKEN?: string
  }
}
