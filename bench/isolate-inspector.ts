// The Worker isolate seen through workerd's inspector (the DevTools protocol Miniflare proxies on
// its `inspectorPort`): its memory after a tick and a CPU profile of the tick.
// - Memory: V8's used heap plus the backing stores of array buffers, the memory Cloudflare's
//   128 MB limit per isolate is about. workerd's RSS also holds the runtime itself and the local
//   KV emulation, which production does not charge to the Worker, so the bench prints both.
//   workerd answers the inspector only between events, so this is the heap as the tick left it
//   (garbage not yet collected included), not a peak during it.
// - CPU: the sampling profiler of the Worker's own isolate. Samples in JavaScript (the job's code
//   and the builtins and runtime APIs it calls: JSON.parse, TextEncoder, kv.put) and in its
//   garbage collector are the Worker's CPU; "(program)" samples are workerd outside this isolate's
//   JavaScript (the local KV emulation shares the thread), which the process figure counts and
//   Cloudflare's CPU limit does not. Sampled every 2 ms: at that rate the tick's process CPU
//   measured the same with and without the profiler (5.67 s and 5.73 s at 10k articles).
import WebSocket from 'ws'

/** A tick's CPU in the Worker isolate, from the profiler's samples, in ms. */
export interface IsolateCpu {
  /** JavaScript, builtins and runtime APIs called from it */
  jsMs: number
  /** the isolate's garbage collector */
  gcMs: number
  /** workerd busy outside this isolate's JavaScript (KV emulation, I/O plumbing) */
  programMs: number
}

export interface IsolateProbe {
  /** the isolate's used heap + array buffers now, in MB */
  usedMb(): Promise<number>
  /** starts the sampling profiler (call between events) */
  startProfile(): Promise<void>
  /** stops it and splits the samples taken since startProfile */
  stopProfile(): Promise<IsolateCpu>
  close(): void
}

interface HeapUsage {
  usedSize: number
  backingStorageSize?: number
}

interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string } }>
  samples: number[]
  timeDeltas: number[]
}

const SAMPLING_INTERVAL_US = 2000

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
    async stopProfile() {
      const result = (await send('Profiler.stop')) as { profile?: Profile } | undefined
      if (!result?.profile) throw new Error('the Worker returned no CPU profile')
      return splitSamples(result.profile)
    },
    close: () => socket.close(),
  }
}

function splitSamples(profile: Profile): IsolateCpu {
  const name = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]))
  const cpu: IsolateCpu = { jsMs: 0, gcMs: 0, programMs: 0 }
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    const fn = name.get(id)
    if (fn === '(idle)' || fn === '(root)') return
    if (fn === '(garbage collector)') cpu.gcMs += ms
    else if (fn === '(program)') cpu.programMs += ms
    else cpu.jsMs += ms
  })
  return cpu
}
