// The Worker isolate seen through workerd's inspector (the DevTools protocol Miniflare proxies on
// its `inspectorPort`): its memory after a tick and a CPU profile of the tick.
// - Memory: V8's used heap plus the backing stores of array buffers, the memory Cloudflare's
//   128 MB limit per isolate is about. workerd's RSS also holds the runtime itself and the local
//   KV emulation, which production does not charge to the Worker, so the bench prints both.
//   workerd answers the inspector only between events, so this is the heap as the tick left it
//   (garbage not yet collected included), not a peak during it.
// - CPU: the sampling profiler of the Worker's own isolate, a sample every 2 ms. V8 drops a
//   sample when the isolate is not locked by its thread, which is the case while local KV's
//   emulation (another isolate on the same thread) serves a read or a write; the next sample's
//   time delta then spans that gap. Summing the deltas therefore charged local KV's work to
//   whatever JavaScript ran next. So each sample counts for at most 1.1 intervals: its own
//   interval (2.07 to 2.14 ms apart in an uninterrupted tick) and the profiler's jitter; a longer
//   delta is time the isolate did not hold its lock. `bench/isolate-cpu-check.ts` measures it: a
//   fixed workload read the same with no KV calls, and 600 puts of 1 KB between its steps added
//   0.07 to 0.23 s, where counting each sample for up to two intervals (the bench's reading until
//   `b798fe5`) added 1.1 to 1.3 s, 2 ms a put (figures in bench/MEASUREMENTS.md).
//   "(program)" samples are workerd's native code working for this isolate with its lock held
//   (decoding values read; `node:zlib`'s gzip has a frame of its own, `zlibSync`, and counts as
//   JavaScript): Cloudflare's CPU limit counts them, so the bench prints them as "runtime".
import WebSocket from 'ws'

/** A tick's CPU in the Worker isolate, from the profiler's samples, in ms. */
export interface IsolateCpu {
  /** JavaScript, builtins and runtime APIs called from it */
  jsMs: number
  /** the isolate's garbage collector */
  gcMs: number
  /** workerd's native code working for this isolate with its lock held ("(program)") */
  runtimeMs: number
}

/** All of a reading: JavaScript + runtime + collection, what Cloudflare's CPU limit counts. */
export function totalCpuMs(cpu: IsolateCpu): number {
  return cpu.jsMs + cpu.runtimeMs + cpu.gcMs
}

export interface IsolateProbe {
  /** the isolate's used heap + array buffers now, in MB */
  usedMb(): Promise<number>
  /** starts the sampling profiler (call between events) */
  startProfile(): Promise<void>
  /** stops it and returns the profile as V8 gave it */
  stopRawProfile(): Promise<Profile>
  close(): void
}

interface HeapUsage {
  usedSize: number
  backingStorageSize?: number
}

/** Where a profile node's function is, as V8 reports it (line and column from 0). */
export interface CallFrame {
  functionName: string
  url?: string
  lineNumber?: number
  columnNumber?: number
}

/** A CPU profile as V8's `Profiler.stop` returns it (the fields used here). */
export interface Profile {
  nodes: Array<{ id: number; callFrame: CallFrame; children?: number[] }>
  samples: number[]
  timeDeltas: number[]
}

export const SAMPLING_INTERVAL_US = 2000
/** A sample stands for at most this many sampling intervals (see the file's head). */
export const MAX_INTERVALS_PER_SAMPLE = 1.1

/** Connects to the only user Worker behind Miniflare's inspector proxy on 127.0.0.1:`port`. */
export async function isolateProbe(port: number): Promise<IsolateProbe> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as Array<{
    webSocketDebuggerUrl: string
  }>
  const url = targets[0]?.webSocketDebuggerUrl
  if (!url) throw new Error(`no Worker behind the inspector on port ${port}`)
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  let nextId = 0
  const waiting = new Map<number, (result: unknown) => void>()
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown }
    const done = message.id === undefined ? undefined : waiting.get(message.id)
    if (done && message.id !== undefined) {
      waiting.delete(message.id)
      done(message.result)
    }
  })
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++nextId
      waiting.set(id, resolve)
      socket.send(JSON.stringify({ id, method, params }))
    })
  const stopRawProfile = async () => {
    const result = (await send('Profiler.stop')) as { profile?: Profile } | undefined
    if (!result?.profile) throw new Error('the Worker returned no CPU profile')
    return result.profile
  }
  return {
    async usedMb() {
      const { usedSize, backingStorageSize = 0 } = (await send('Runtime.getHeapUsage')) as HeapUsage
      return (usedSize + backingStorageSize) / 2 ** 20
    },
    async startProfile() {
      await send('Profiler.enable')
      await send('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US })
      await send('Profiler.start')
    },
    stopRawProfile,
    close: () => socket.close(),
  }
}

/**
 * The isolate's CPU by kind, from a profile sampled every `intervalUs`: each sample counts its
 * time delta, capped at MAX_INTERVALS_PER_SAMPLE intervals, so gaps in which the isolate did not
 * hold its lock (local KV running on the thread) are not charged to the sample after them.
 */
export function isolateCpu(
  profile: Profile,
  intervalUs = SAMPLING_INTERVAL_US,
  intervalsPerSample = MAX_INTERVALS_PER_SAMPLE,
): IsolateCpu {
  const steps: TickSteps = [['all', []]]
  const [[, cpu]] = isolateCpuBySteps(
    profile,
    steps,
    undefined,
    intervalUs,
    intervalsPerSample,
  ) as [[string, IsolateCpu]]
  return cpu
}

/**
 * Steps of a tick in the order they run, each with functions no earlier step runs. A sample
 * belongs to the latest step one of whose functions was on the stack of that sample or of an
 * earlier one, or to the first step. The samples are in time order and the steps run one after
 * another, so this splits the tick at its steps' first samples, give or take a sampling interval.
 * A step none of whose functions was sampled gets no time; its samples count for the step before.
 */
export type TickSteps = ReadonlyArray<readonly [step: string, functions: readonly string[]]>

/** Names a profile node's function: V8's name, or the original one through a source map. */
export type FrameNamer = (frame: CallFrame) => string

/** isolateCpu for each of `steps`, in their order (steps without samples included, at 0). */
export function isolateCpuBySteps(
  profile: Profile,
  steps: TickSteps,
  nameOf: FrameNamer = (frame) => frame.functionName,
  intervalUs = SAMPLING_INTERVAL_US,
  intervalsPerSample = MAX_INTERVALS_PER_SAMPLE,
): Array<[string, IsolateCpu]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  // The step each node's stack announces (-1: none), computed once per node.
  const stepOfFunction = new Map<string, number>()
  steps.forEach(([, functions], k) => {
    for (const fn of functions) stepOfFunction.set(fn, k)
  })
  const announced = new Map<number, number>()
  const announces = (id: number): number => {
    const known = announced.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)
    const up = parent.get(id)
    const own = node ? (stepOfFunction.get(nameOf(node.callFrame)) ?? -1) : -1
    const step = Math.max(own, up === undefined ? -1 : announces(up))
    announced.set(id, step)
    return step
  }
  const cap = intervalUs * intervalsPerSample
  const out = steps.map(([step]): [string, IsolateCpu] => [
    step,
    { jsMs: 0, gcMs: 0, runtimeMs: 0 },
  ])
  let current = 0
  profile.samples.forEach((id, i) => {
    const ms = Math.min(profile.timeDeltas[i] ?? 0, cap) / 1000
    const fn = byId.get(id)?.callFrame.functionName
    if (fn === '(idle)' || fn === '(root)') return
    current = Math.max(current, announces(id))
    const cpu = (out[current] as [string, IsolateCpu])[1]
    if (fn === '(garbage collector)') cpu.gcMs += ms
    else if (fn === '(program)') cpu.runtimeMs += ms
    else cpu.jsMs += ms
  })
  return out
}
