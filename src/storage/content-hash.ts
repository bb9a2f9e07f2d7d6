// A fast, synchronous content hash for change detection (not security): the same bytes give the
// same hash in Node and in workerd, so the job can skip writes whose value did not change.

/** contentHash's two 32-bit lanes as unsigned numbers (to sum hashes, order-free). */
export function contentHashLanes(text: string): [number, number] {
  let h1 = 0x811c9dc5
  let h2 = 0xcbf29ce4
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x0100019d) ^ (h1 >>> 13)
  }
  return [h1 >>> 0, h2 >>> 0]
}

/** 64-bit FNV-1a of a string's UTF-16 code units, as 16 hex digits. */
export function contentHash(text: string): string {
  const [h1, h2] = contentHashLanes(text)
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')
}
