// Counts KV binding calls the way the platform bills and limits them (D3: a bulk get of up to
// 100 keys is one operation), so the job can cap its writes and report its work.

/** Operation counts for one unit of work (a tick, an import). */
export interface KvCounts {
  reads: number
  writes: number
  deletes: number
  lists: number
}

/** Wraps a namespace; every call through `kv` is counted in `counts`. */
export function countingKv(inner: KVNamespace): { kv: KVNamespace; counts: KvCounts } {
  const counts: KvCounts = { reads: 0, writes: 0, deletes: 0, lists: 0 }
  const kv = {
    get: (...args: unknown[]) => {
      counts.reads++
      return (inner.get as (...a: unknown[]) => unknown)(...args)
    },
    getWithMetadata: (...args: unknown[]) => {
      counts.reads++
      return (inner.getWithMetadata as (...a: unknown[]) => unknown)(...args)
    },
    put: (...args: unknown[]) => {
      counts.writes++
      return (inner.put as (...a: unknown[]) => unknown)(...args)
    },
    delete: (key: string) => {
      counts.deletes++
      return inner.delete(key)
    },
    list: (options?: KVNamespaceListOptions) => {
      counts.lists++
      return inner.list(options)
    },
  }
  return { kv: kv as unknown as KVNamespace, counts }
}
