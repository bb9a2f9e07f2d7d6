// Values the request path read from KV, kept in this isolate for a few seconds so a busy isolate
// answers from memory instead of a KV read plus JSON parse and validation on every request.
// Bounded (entries and bytes, least recently used out first) and within the freshness contract
// (D2): derived values live at most LIST_TTL_MS; article records ARTICLE_TTL_MS, and any write
// through storage in this isolate drops its key at once, so a publish shows where it was served.

/** Derived values (lists, theme index, related lists, feeds): well inside the 60 s contract. */
export const LIST_TTL_MS = 30_000
/** Article records: short, since another isolate may serve the write. */
export const ARTICLE_TTL_MS = 5_000

interface Entry {
  value: unknown
  bytes: number
  expires: number
}

/** A least-recently-used map with a TTL per entry and bounds on entries and (estimated) bytes. */
export class IsolateCache {
  private readonly entries = new Map<string, Entry>()
  private bytes = 0

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  /** The live entry for `key` (its value may be null: "not found" is cached too), or undefined. */
  get<T>(key: string, now = Date.now()): { value: T } | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expires <= now) {
      this.delete(key)
      return undefined
    }
    // Re-inserting moves the key to the young end of the Map's insertion order.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return { value: entry.value as T }
  }

  /** Keeps `value` for `ttlMs`; a value larger than a quarter of the budget is not kept. */
  set(key: string, value: unknown, bytes: number, ttlMs: number, now = Date.now()): void {
    this.delete(key)
    if (bytes > this.maxBytes / 4) return
    this.entries.set(key, { value, bytes, expires: now + ttlMs })
    this.bytes += bytes
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break
      this.entries.delete(oldest)
      this.bytes -= entry.bytes
    }
  }

  /** Drops one key (a write through storage in this isolate). */
  delete(key: string): void {
    const entry = this.entries.get(key)
    if (!entry) return
    this.entries.delete(key)
    this.bytes -= entry.bytes
  }

  /** Drops everything (tests that reset KV underneath the Worker). */
  clear(): void {
    this.entries.clear()
    this.bytes = 0
  }

  /** Entries and estimated bytes held now. */
  size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes }
  }
}

/** The isolate's one cache: 500 entries, 16 MB estimated (a Worker isolate has 128 MB). */
export const isolateCache = new IsolateCache(500, 16 * 1024 * 1024)

/** Estimated heap bytes of a value decoded from `text`: parsed JSON costs a few times its text. */
export function decodedBytes(key: string, text: string | null | undefined): number {
  return key.length * 2 + 64 + (text ? text.length * 3 : 0)
}
