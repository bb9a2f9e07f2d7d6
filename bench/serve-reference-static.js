// The runtime's ceiling: a fixed 20 KB response from the isolate's memory, no binding call.
const BODY = new TextEncoder().encode('<p>edgewire reference</p>\n'.repeat(788).slice(0, 20_480))

export default {
  fetch() {
    return new Response(BODY, { headers: { 'Content-Type': 'text/html; charset=utf-8' } })
  },
}
