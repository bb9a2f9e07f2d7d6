// How much of a run's CPU is the project's own JavaScript, from a V8 CPU profile of this Node
// process (node:inspector): the time of the samples taken in src/ code (or in a builtin it
// called), and the garbage collector's time apart. The rest is Miniflare's KV client and Node itself. In workerd,
// KV's emulation shares the process, so its CPU figure counts the emulation too; Cloudflare
// charges a Worker for its own JavaScript and parsing, not for the time KV takes to answer.
import { Session } from 'node:inspector/promises'

export interface OwnCpu {
  /** samples in src/ code or in builtins it called, in ms */
  ownMs: number
  /** garbage collection, whoever allocated, in ms */
  gcMs: number
  /** everything sampled while not idle, in ms */
  busyMs: number
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

// The project's modules as the profiler names them (file URLs under src/; not node_modules').
const SRC = new URL('../src/', import.meta.url).href

/** Runs `work` under the V8 sampling profiler (every 250 µs) and splits its time. */
export async function profileOwnCpu<T>(
  work: () => Promise<T>,
): Promise<{ result: T; cpu: OwnCpu }> {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 250 })
    await session.post('Profiler.start')
    const result = await work()
    const { profile } = (await session.post('Profiler.stop')) as { profile: Profile }
    return { result, cpu: splitProfile(profile) }
  } finally {
    session.disconnect()
  }
}

function splitProfile(profile: Profile): OwnCpu {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Whether a sample is the project's code at work: its innermost frame that is neither a V8
  // builtin (JSON.parse, no URL) nor Node's own (node:) decides. JSON.parse called by src/ counts;
  // Miniflare's client serializing a value for a put that src/ awaits does not.
  const own = new Map<number, boolean>()
  const isOwn = (id: number): boolean => {
    const known = own.get(id)
    if (known !== undefined) return known
    const url = byId.get(id)?.callFrame.url ?? ''
    const up = parent.get(id)
    const value =
      url === '' || url.startsWith('node:') ? up !== undefined && isOwn(up) : url.startsWith(SRC)
    own.set(id, value)
    return value
  }
  let ownUs = 0
  let gcUs = 0
  let busyUs = 0
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0
    const name = byId.get(id)?.callFrame.functionName
    if (name === '(idle)') return
    busyUs += us
    if (name === '(garbage collector)') gcUs += us
    else if (isOwn(id)) ownUs += us
  })
  return { ownMs: ownUs / 1000, gcMs: gcUs / 1000, busyMs: busyUs / 1000 }
}
