// The workerd process Miniflare starts for this Node process, read from Linux's /proc: its CPU
// time and memory (the Worker, the runtime and local KV's emulation together).
import { readdirSync, readFileSync } from 'node:fs'

const CLOCK_TICKS = 100

// The workerd process Miniflare started for this Node process (its only workerd child).
export function workerdPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === process.pid && stat.includes('(workerd)')) return Number(entry)
    } catch {}
  }
  throw new Error('no workerd child process found')
}

// utime + stime of a process, in milliseconds (Linux /proc; clock ticks are 1/100 s here).
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
}

export function processRssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}
