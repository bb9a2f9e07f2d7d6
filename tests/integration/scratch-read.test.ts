// Binary values read into one reused buffer (storage/scratch-read.ts), through workerd's own KV
// streams: each read must give exactly the stored bytes, whatever the value's size.
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { scratchReader } from '../../src/storage/scratch-read'

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 255)
}

describe('scratchReader', () => {
  it('reads values one after another, growing its buffer past a small start', async () => {
    const values = [pattern(10, 1), pattern(70_000, 2), pattern(3, 3), pattern(200_001, 4)]
    for (const [i, v] of values.entries()) await env.KV.put(`scratch:${i}`, v)
    const read = scratchReader(env.KV, 16)
    for (const [i, v] of values.entries()) {
      const got = await read(`scratch:${i}`)
      expect(got?.byteLength).toBe(v.byteLength)
      expect(Buffer.from(got as Uint8Array).equals(Buffer.from(v))).toBe(true)
    }
    expect(await read('scratch:missing')).toBeNull()
    // An empty value is a value, not a missing key.
    await env.KV.put('scratch:empty', new Uint8Array(0))
    expect((await read('scratch:empty'))?.byteLength).toBe(0)
  })
})
