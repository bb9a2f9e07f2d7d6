// Binary values read into one reused buffer (storage/scratch-read.ts) through Miniflare's KV
// client in Node: the bench's Node re-run of the tick reads the stored related index this way.
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchReader } from '../../src/storage/scratch-read'

let mf: Miniflare
let kv: KVNamespace

beforeAll(async () => {
  mf = new Miniflare({
    modules: true,
    script: 'export default { fetch() { return new Response("") } }',
    kvNamespaces: ['KV'],
  })
  kv = (await mf.getKVNamespace('KV')) as unknown as KVNamespace
})
afterAll(() => mf.dispose())

describe('scratchReader in Node', () => {
  it('reads values one after another, growing its buffer past a small start', async () => {
    const values = [70_000, 10, 300_000].map((length, seed) =>
      Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 255),
    )
    for (const [i, v] of values.entries()) await kv.put(`scratch:${i}`, v)
    const read = scratchReader(kv, 16)
    for (const [i, v] of values.entries()) {
      const got = await read(`scratch:${i}`)
      expect(got?.byteLength).toBe(v.byteLength)
      expect(Buffer.from(got as Uint8Array).equals(Buffer.from(v))).toBe(true)
    }
    expect(await read('scratch:missing')).toBeNull()
  })
})
