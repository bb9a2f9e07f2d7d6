// Pre-rendered documents (feeds, sitemaps): bytes rendered by the refresh job, stored twice
// (identity and gzip) with everything HTTP needs in the value's metadata, so a request is one
// getWithMetadata and no serialisation.
import { gzipSync } from 'node:zlib'
import { digestHex } from './content-hash'
import { isolateCache, LIST_TTL_MS } from './isolate-cache'
import { keys } from './keys'

export type Coding = 'identity' | 'gzip'

/** Stored beside each document's bytes (KV metadata, at most 1 KiB). */
export interface DocumentMeta {
  /** hash of everything the document was rendered from: unchanged source, no re-render */
  src: string
  /** strong ETag of these bytes (the gzip copy has its own) */
  etag: string
  /** when the bytes last changed, RFC 3339; never moves backwards */
  modified: string
  type: string
  length: number
  cacheControl: string
}

/** A document as the request path reads it. */
export interface StoredDocument {
  body: ArrayBuffer
  meta: DocumentMeta
}

/** Reads one document in one binding call, or none while this isolate holds it (LIST_TTL_MS). */
export async function getDocument(
  kv: KVNamespace,
  path: string,
  coding: Coding,
): Promise<StoredDocument | null> {
  const key = keys.document(coding, path)
  const hit = isolateCache.get<StoredDocument | null>(key)
  const doc = hit ? hit.value : await readDocument(kv, key)
  if (!hit) isolateCache.set(key, doc, 512 + (doc?.body.byteLength ?? 0), LIST_TTL_MS)
  // A copy: the cached bytes must outlive the Response they are handed to.
  return doc && { body: doc.body.slice(0), meta: doc.meta }
}

async function readDocument(kv: KVNamespace, key: string): Promise<StoredDocument | null> {
  const { value, metadata } = await kv.getWithMetadata<DocumentMeta>(key, 'arrayBuffer')
  if (value === null || !metadata) return null
  return { body: value, meta: metadata }
}

/** Every stored document's metadata, by path, from key listings (the job's view; no values read). */
export async function listDocumentMetas(kv: KVNamespace): Promise<Map<string, DocumentMeta>> {
  const out = new Map<string, DocumentMeta>()
  const prefix = keys.documentPrefix('identity')
  const gzipped = new Set<string>()
  for (const coding of ['identity', 'gzip'] as const) {
    let cursor: string | null = null
    do {
      const page: KVNamespaceListResult<DocumentMeta, string> = await kv.list<DocumentMeta>({
        prefix: keys.documentPrefix(coding),
        cursor,
      })
      for (const k of page.keys) {
        const path = k.name.slice(keys.documentPrefix(coding).length)
        if (coding === 'gzip') gzipped.add(path)
        else if (k.metadata && k.name.startsWith(prefix)) out.set(path, k.metadata)
      }
      cursor = page.list_complete ? null : page.cursor
    } while (cursor)
  }
  // A document missing its gzip copy counts as absent, so the job writes both again.
  for (const path of [...out.keys()]) if (!gzipped.has(path)) out.delete(path)
  return out
}

/**
 * zlib level of the stored gzip copies. The job compresses every feed and sitemap it rewrites,
 * megabytes a tick on a large site, and CompressionStream offers only the default level 6. Level 4
 * takes half that time for 3.5% more bytes: on the 24 feeds (5 MB) of a +100 tick at 100k
 * articles, 83 to 94 ms of Worker CPU against 163 ms at level 6 and 167 to 186 ms through
 * CompressionStream. Level 1 took 56 to 62 ms, for 10.5% more bytes than level 6
 * (bench/MEASUREMENTS.md).
 */
const GZIP_LEVEL = 4

// Exactly the compressed bytes as an ArrayBuffer: zlib returns a Node Buffer, which may view a
// larger shared buffer, and which Miniflare's KV client (the bench's Node tick) cannot carry.
function gzip(bytes: Uint8Array): ArrayBuffer {
  const zipped = gzipSync(bytes, { level: GZIP_LEVEL })
  return zipped.buffer.slice(
    zipped.byteOffset,
    zipped.byteOffset + zipped.byteLength,
  ) as ArrayBuffer
}

/** A rendered document as stored: its UTF-8 bytes and their strong ETag. */
export interface EncodedDocument {
  bytes: Uint8Array
  etag: string
}

/**
 * Encodes a rendered document once and names its bytes with the first 128 bits of their SHA-256,
 * in hex. WebCrypto's digest is native: a tick's feeds and sitemaps run to megabytes, which a
 * hash written in JavaScript walks a code unit at a time.
 */
export async function encodeDocument(text: string): Promise<EncodedDocument> {
  const bytes = new TextEncoder().encode(text)
  return { bytes, etag: `"${await digestHex(bytes, 128)}"` }
}

/** Writes a document in both codings (2 KV writes); `meta.etag` names the identity bytes. */
export async function putDocument(
  kv: KVNamespace,
  path: string,
  identity: Uint8Array,
  meta: Omit<DocumentMeta, 'length'>,
): Promise<void> {
  const zipped = gzip(identity)
  // The gzip copy goes first: a reader finding the identity copy can rely on both.
  await kv.put(keys.document('gzip', path), zipped, {
    metadata: { ...meta, etag: meta.etag.replace(/"$/, '-gz"'), length: zipped.byteLength },
  })
  await kv.put(keys.document('identity', path), identity, {
    metadata: { ...meta, length: identity.byteLength },
  })
  isolateCache.delete(keys.document('gzip', path))
  isolateCache.delete(keys.document('identity', path))
}

/** Removes a document (2 KV deletes). */
export async function deleteDocument(kv: KVNamespace, path: string): Promise<void> {
  await kv.delete(keys.document('identity', path))
  await kv.delete(keys.document('gzip', path))
  isolateCache.delete(keys.document('identity', path))
  isolateCache.delete(keys.document('gzip', path))
}
