// Bulk reads as the platform allows them: at most 100 keys per binding call, and at most 25 MB
// of values in all (KV answers 413 beyond), so a batch that is too large is read in halves.

const MAX_KEYS = 100
const TOO_LARGE = /\b413\b|exceeds the limit/i

async function getBatch(kv: KVNamespace, batch: string[]): Promise<Map<string, string | null>> {
  try {
    return await kv.get(batch, 'text')
  } catch (error) {
    if (batch.length < 2 || !TOO_LARGE.test(String(error))) throw error
    const half = Math.ceil(batch.length / 2)
    const first = await getBatch(kv, batch.slice(0, half))
    for (const [k, v] of await getBatch(kv, batch.slice(half))) first.set(k, v)
    return first
  }
}

/** Reads many keys' text: one binding call per 100 keys, more only past 25 MB. */
export async function getMany(
  kv: KVNamespace,
  keys: readonly string[],
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>()
  for (let i = 0; i < keys.length; i += MAX_KEYS) {
    const batch = keys.slice(i, i + MAX_KEYS)
    const values = await getBatch(kv, batch)
    for (const key of batch) out.set(key, values.get(key) ?? null)
  }
  return out
}
