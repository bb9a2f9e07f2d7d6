// The HTTP rules feed readers rely on (RFC 9110): content-coding negotiation and conditional
// requests. Pure functions so they are tested on their own.

/** True when the client accepts gzip (`gzip` or `*` with a non-zero q-value). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false
  let gzip: number | null = null
  let star: number | null = null
  for (const part of acceptEncoding.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';')
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    const q = qParam ? Number(qParam.slice(2)) : 1
    const value = Number.isNaN(q) ? 0 : q
    if (name.trim() === 'gzip' || name.trim() === 'x-gzip') gzip = value
    else if (name.trim() === '*') star = value
  }
  return (gzip ?? star ?? 0) > 0
}

const opaque = (tag: string) => tag.trim().replace(/^W\//, '')

/** If-None-Match with weak comparison: lists, `W/` tags and `*` (RFC 9110 13.1.2). */
export function noneMatch(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true
  const mine = opaque(etag)
  return ifNoneMatch.split(',').some((t) => opaque(t) === mine)
}

/** If-Modified-Since: true when the document has not changed since that date. */
export function notModifiedSince(ifModifiedSince: string, modified: string): boolean {
  const since = Date.parse(ifModifiedSince)
  if (Number.isNaN(since)) return false
  return Math.floor(Date.parse(modified) / 1000) * 1000 <= since
}

/** Whether a GET/HEAD may be answered 304: If-None-Match decides when present (RFC 9110 13.2.2). */
export function isNotModified(
  headers: { ifNoneMatch?: string | undefined; ifModifiedSince?: string | undefined },
  etag: string,
  modified: string,
): boolean {
  if (headers.ifNoneMatch !== undefined) return noneMatch(headers.ifNoneMatch, etag)
  if (headers.ifModifiedSince !== undefined)
    return notModifiedSince(headers.ifModifiedSince, modified)
  return false
}
