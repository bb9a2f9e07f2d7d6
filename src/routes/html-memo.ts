// Rendered HTML reused while the values it was rendered from are the same objects. The isolate
// cache hands out one object per stored value until it expires or a write drops it, so object
// identity is a free, exact version check: a tick or a publish yields new objects and a fresh
// render. Entries die with their values (WeakMap), so the memo is bounded by the cache.
const renders = new WeakMap<object, Map<string, string>>()
const ids = new WeakMap<object, number>()
let nextId = 1

function idOf(value: object | null): string {
  if (value === null) return '-'
  let id = ids.get(value)
  if (id === undefined) {
    id = nextId++
    ids.set(value, id)
  }
  return String(id)
}

/** The HTML for `variant` rendered from `owner` (and `others`), rendering it only once. */
export function memoHtml(
  owner: object,
  others: Array<object | null>,
  variant: string,
  render: () => string,
): string {
  const key = `${others.map(idOf).join(',')}|${variant}`
  let byKey = renders.get(owner)
  if (!byKey) {
    byKey = new Map()
    renders.set(owner, byKey)
  }
  const hit = byKey.get(key)
  if (hit !== undefined) return hit
  const html = render()
  // A handful of variants (pages, settings) per value; past that, start over.
  if (byKey.size >= 64) byKey.clear()
  byKey.set(key, html)
  return html
}

/** Renders a synchronous hono/jsx tree to its HTML string. */
export function renderToString(node: { toString(): string | Promise<string> }): string {
  const html = node.toString()
  if (typeof html !== 'string') throw new Error('page components must render synchronously')
  return html
}
