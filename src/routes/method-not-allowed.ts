// Hono answers 404 for a known path with an unsupported method; D7 wants 405 with `Allow`.
import type { Context } from 'hono'
import type { AppEnv } from '../app-env'

/** A catch-all handler for a route's other methods: 405 with the methods it does allow. */
export function methodNotAllowed(allow: string) {
  return (c: Context<AppEnv>) => {
    c.header('Allow', allow)
    if (c.req.path.startsWith('/api/')) {
      return c.json({ error: 'method not allowed', allow }, 405)
    }
    return c.text(`Method not allowed. Allowed: ${allow}\n`, 405)
  }
}
