// Dates are stored in UTC and shown in the site's time zone; formatters are costly to build,
// so one per zone and style is kept for the isolate's life.
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string, withTime: boolean): Intl.DateTimeFormat {
  const key = `${timeZone}|${withTime}`
  let f = formatters.get(key)
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      ...(withTime ? { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' } : {}),
    })
    formatters.set(key, f)
  }
  return f
}

/** `20 May 2025, 11:40 BST`: a dateline in the site's zone. */
export function formatDateTime(iso: string, timeZone: string): string {
  return formatter(timeZone, true).format(new Date(iso))
}

/** `20 May 2025`: a list date in the site's zone. */
export function formatDate(iso: string, timeZone: string): string {
  return formatter(timeZone, false).format(new Date(iso))
}
