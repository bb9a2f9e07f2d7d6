// The storage floor: one KV read of a value the size of the page under test, returned as it is.
// `?key=` names the value the bench stored for that page.
export default {
  async fetch(request, env) {
    const key = new URL(request.url).searchParams.get('key') ?? ''
    const value = await env.KV.get(key, 'arrayBuffer')
    if (value === null) return new Response('no such reference value', { status: 404 })
    return new Response(value, { headers: { 'Content-Type': 'text/html; charset=utf-8' } })
  },
}
