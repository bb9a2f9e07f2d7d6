// WebSub (W3C): after a tick re-renders subscription feeds, tell the hub which URLs changed in
// one publish request. A hub failure is logged and never fails the tick.

/** Pings `hub` for `urls` with a bounded retry; returns true when the hub accepted it. */
export async function pingHub(
  hub: string,
  urls: string[],
  options: { attempts?: number; backoffMs?: number; fetcher?: typeof fetch } = {},
): Promise<boolean> {
  if (urls.length === 0) return true
  const attempts = options.attempts ?? 3
  const backoffMs = options.backoffMs ?? 500
  const doFetch = options.fetcher ?? fetch
  const pairs: Array<[string, string]> = [
    ['hub.mode', 'publish'],
    ...urls.map((u): [string, string] => ['hub.url', u]),
  ]
  const body = new URLSearchParams(pairs)
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await doFetch(hub, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
        signal: AbortSignal.timeout(5000),
      })
      if (res.ok) return true
      console.error(`websub: hub answered ${res.status} (attempt ${attempt}/${attempts})`)
    } catch (error) {
      console.error(`websub: hub unreachable (attempt ${attempt}/${attempts}): ${String(error)}`)
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, backoffMs * attempt))
  }
  return false
}
