// The Worker isolate's memory after a tick, read through workerd's inspector (the DevTools
// protocol Miniflare proxies on its `inspectorPort`): V8's used heap plus the backing stores of
// array buffers, the memory Cloudflare's 128 MB limit per isolate is about. workerd's RSS also
// holds the runtime itself and the local KV emulation, which production does not charge to the
// Worker, so the bench prints both. workerd answers the inspector only between events, so this is
// the heap as the tick left it (garbage not yet collected included), not a peak during it.
import WebSocket from 'ws'

export interface HeapProbe {
  /** the isolate's used heap + array buffers now, in MB */
  usedMb(): Promise<number>
  close(): void
}

interface HeapUsage {
  usedSize: number
  backingStorageSize?: number
}

/** Connects to the only user Worker behind Miniflare's inspector proxy on 127.0.0.1:`port`. */
export async function heapProbe(port: number): Promise<HeapProbe> {
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
  return {
    async usedMb() {
      const id = ++nextId
      const result = await new Promise<unknown>((resolve) => {
        waiting.set(id, resolve)
        socket.send(JSON.stringify({ id, method: 'Runtime.getHeapUsage' }))
      })
      const { usedSize, backingStorageSize = 0 } = result as HeapUsage
      return (usedSize + backingStorageSize) / 2 ** 20
    },
    close: () => socket.close(),
  }
}
