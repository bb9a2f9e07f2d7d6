// The bench's reading of a Worker's CPU from workerd's profiler (bench/isolate-inspector.ts).
import { describe, expect, it } from 'vitest'
import { isolateCpu, type Profile } from '../../bench/isolate-inspector'

// A profile whose samples are the given kinds, each after the given delta in microseconds.
function profile(samples: Array<[string, number]>): Profile {
  const kinds = [...new Set(samples.map(([kind]) => kind))]
  return {
    nodes: kinds.map((functionName, id) => ({ id, callFrame: { functionName } })),
    samples: samples.map(([kind]) => kinds.indexOf(kind)),
    timeDeltas: samples.map(([, us]) => us),
  }
}

describe('isolateCpu', () => {
  it('splits samples into JavaScript, runtime and garbage collection, leaving idle out', () => {
    const cpu = isolateCpu(
      profile([
        ['runRefresh', 2000],
        ['JSON.parse', 2000],
        ['(program)', 2000],
        ['(garbage collector)', 2000],
        ['(idle)', 2000],
        ['(root)', 2000],
      ]),
      2000,
    )
    expect(cpu).toEqual({ jsMs: 4, runtimeMs: 2, gcMs: 2 })
  })

  it('does not charge a gap in which the isolate did not hold its lock to the sample after it', () => {
    // 40 ms of local KV ran on the thread between two samples: V8 dropped the samples in between,
    // so the second sample's delta spans the gap.
    const cpu = isolateCpu(
      profile([
        ['runRefresh', 2000],
        ['putValue', 40_000],
        ['runRefresh', 3000],
      ]),
      2000,
    )
    // A late sample keeps its time up to two intervals; the gap beyond that is not the Worker's.
    expect(cpu.jsMs).toBe(2 + 4 + 3)
  })
})
