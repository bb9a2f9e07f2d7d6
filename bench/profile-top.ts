// Where an invocation's Worker CPU went, by function: reads a profile the related bench kept
// (EDGEWIRE_BENCH_PROFILES=DIR) and names the minified bundle's functions through the source map
// kept beside it. Self time is what a function ran itself; total time includes what it called.
// Each sample counts as isolateCpu counts it (at most MAX_INTERVALS_PER_SAMPLE intervals).
//   node --import tsx bench/profile-top.ts DIR/FILE.cpuprofile [N]
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { bundleFrameNamer } from './bundle-names.ts'
import {
  type CallFrame,
  MAX_INTERVALS_PER_SAMPLE,
  type Profile,
  SAMPLING_INTERVAL_US,
} from './isolate-inspector.ts'

/** Self and total milliseconds by function name, largest self first. */
export function functionTimes(
  profile: Profile,
  nameOf: (frame: CallFrame) => string,
): Array<{ name: string; selfMs: number; totalMs: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const cap = SAMPLING_INTERVAL_US * MAX_INTERVALS_PER_SAMPLE
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    if (!node || node.callFrame.functionName === '(idle)') return
    const ms = Math.min(profile.timeDeltas[i] ?? 0, cap) / 1000
    const own = nameOf(node.callFrame) || '(anonymous)'
    self.set(own, (self.get(own) ?? 0) + ms)
    // A function counts once per sample however often it recurs on the stack.
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame
      if (!frame || frame.functionName === '(root)') continue
      const name = nameOf(frame) || '(anonymous)'
      if (seen.has(name)) continue
      seen.add(name)
      total.set(name, (total.get(name) ?? 0) + ms)
    }
  })
  return [...total.keys()]
    .map((name) => ({ name, selfMs: self.get(name) ?? 0, totalMs: total.get(name) ?? 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
}

if (process.argv[1] && basename(process.argv[1]).startsWith('profile-top')) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: profile-top.ts DIR/FILE.cpuprofile [N]')
  const top = Number(process.argv[3] ?? 30)
  const dir = dirname(file)
  const bundle = readdirSync(dir).find((f) => f.endsWith('.js'))
  const named = bundle ? bundleFrameNamer(join(dir, bundle)) : (f: CallFrame) => f.functionName
  // The profile names the bundle by the path workerd ran it from; the copy is beside the profile.
  const nameOf = (frame: CallFrame) =>
    named(bundle && frame.url?.endsWith(bundle) ? { ...frame, url: join(dir, bundle) } : frame)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const rows = functionTimes(profile, nameOf)
  const pad = (ms: number) => ms.toFixed(0).padStart(7)
  console.log(`${'self ms'.padStart(7)} ${'total ms'.padStart(8)}  function`)
  for (const row of rows.slice(0, top)) {
    console.log(`${pad(row.selfMs)} ${pad(row.totalMs).padStart(8)}  ${row.name}`)
  }
  console.log('\nlargest total:')
  for (const row of [...rows].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
    console.log(`${pad(row.selfMs)} ${pad(row.totalMs).padStart(8)}  ${row.name}`)
  }
}
