// The bench's reading of a Worker's CPU from workerd's profiler (bench/isolate-inspector.ts).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isolateCpu, isolateCpuBySteps, type Profile } from '../../bench/isolate-inspector'
import { functionTimes } from '../../bench/profile-top'
import { REFRESH_STEPS } from '../../bench/related-bench'

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
        ['runRefresh', 2100],
      ]),
      2000,
    )
    // A sample keeps its time up to 1.1 intervals (its own and the profiler's jitter); the gap
    // beyond that is not the Worker's.
    expect(cpu.jsMs).toBeCloseTo(2 + 2.2 + 2.1, 9)
  })
})

// A profile whose samples are call stacks (outermost first), each after a delta in microseconds.
function stacks(samples: Array<[string[], number]>): Profile {
  const nodes: Array<{ id: number; callFrame: { functionName: string }; children: number[] }> = [
    { id: 0, callFrame: { functionName: '(root)' }, children: [] },
  ]
  const idOf = new Map<string, number>([['', 0]])
  const ids = samples.map(([stack]) => {
    let path = ''
    let id = 0
    for (const fn of stack) {
      const next = `${path}/${fn}`
      let child = idOf.get(next)
      if (child === undefined) {
        child = nodes.length
        nodes.push({ id: child, callFrame: { functionName: fn }, children: [] })
        nodes[id]?.children.push(child)
        idOf.set(next, child)
      }
      path = next
      id = child
    }
    return id
  })
  return { nodes, samples: ids, timeDeltas: samples.map(([, us]) => us) }
}

describe('isolateCpuBySteps', () => {
  const steps = [
    ['load', ['loadJobState']],
    ['lists', ['refreshStoryLists']],
    ['related', ['rankRelated']],
    ['documents', ['refreshDocuments']],
  ] as const

  it('splits a tick at the first sample inside each step, the rest following in time', () => {
    const tick = stacks([
      [['runRefresh'], 2000],
      [['runRefresh', 'loadJobState', 'JSON.parse'], 2000],
      [['(program)'], 2000],
      [['refreshStoryLists', 'putValue'], 2000],
      // Between two steps' functions (the job's own code, a collection): the step before.
      [['runRefresh'], 2000],
      [['(garbage collector)'], 2000],
      [['runRefresh', 'rankRelated', 'scoreCandidates'], 5000],
      [['(idle)'], 2000],
      // A function of an earlier step called by a later one stays in the later step.
      [['refreshDocuments', 'getArticles', 'loadJobState'], 2000],
      [['(program)'], 2000],
    ])
    const byStep = isolateCpuBySteps(tick, steps, undefined, 2000)
    expect(byStep).toEqual([
      ['load', { jsMs: 4, runtimeMs: 2, gcMs: 0 }],
      ['lists', { jsMs: 4, runtimeMs: 0, gcMs: 2 }],
      // A late sample counts for 1.1 intervals at most, as in isolateCpu.
      ['related', { jsMs: 2.2, runtimeMs: 0, gcMs: 0 }],
      ['documents', { jsMs: 2, runtimeMs: 2, gcMs: 0 }],
    ])
    // The steps share out the whole tick as isolateCpu reads it.
    const whole = isolateCpu(tick, 2000)
    const sum = (key: 'jsMs' | 'runtimeMs' | 'gcMs') =>
      byStep.reduce((total, [, cpu]) => total + cpu[key], 0)
    expect([sum('jsMs'), sum('runtimeMs'), sum('gcMs')]).toEqual([
      whole.jsMs,
      whole.runtimeMs,
      whole.gcMs,
    ])
  })

  it('gives a step none of whose functions ran no time, and names frames with the namer', () => {
    const byStep = isolateCpuBySteps(
      stacks([
        [['a'], 2000],
        [['b', 'c'], 2000],
        [['d'], 2000],
      ]),
      steps,
      // A minified bundle: the namer maps its names back (here: b is refreshDocuments).
      (frame) => (frame.functionName === 'b' ? 'refreshDocuments' : frame.functionName),
      2000,
    )
    expect(byStep.map(([step, cpu]) => [step, cpu.jsMs])).toEqual([
      ['load', 2],
      ['lists', 0],
      ['related', 0],
      ['documents', 4],
    ])
  })

  it("names only functions the refresh job still declares (a rename would move a step's time)", () => {
    const declared = new Set<string>()
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name)
        if (entry.isDirectory()) walk(file)
        else if (/\.tsx?$/.test(entry.name)) {
          for (const m of readFileSync(file, 'utf8').matchAll(/function (\w+)/g))
            declared.add(m[1] as string)
        }
      }
    }
    walk(path.resolve(import.meta.dirname, '../../src'))
    for (const [step, functions] of REFRESH_STEPS) {
      for (const fn of functions) expect(declared.has(fn), `${step}: ${fn}`).toBe(true)
    }
  })
})

describe('functionTimes (bench/profile-top.ts)', () => {
  it("counts a function's own samples as self time and its callees' as total, once per stack", () => {
    // root > refresh > rank > rank (recursion) > score; root > (idle)
    const frame = (functionName: string) => ({ functionName })
    const tree: Profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 6] },
        { id: 2, callFrame: frame('refresh'), children: [3] },
        { id: 3, callFrame: frame('rank'), children: [4] },
        { id: 4, callFrame: frame('rank'), children: [5] },
        { id: 5, callFrame: frame('score') },
        { id: 6, callFrame: frame('(idle)') },
      ],
      // score twice, the inner rank once, refresh once, idle once; a long gap is capped at 2.2 ms
      samples: [5, 5, 4, 2, 6],
      timeDeltas: [2000, 9000, 2000, 2000, 2000],
    }
    const rows = new Map(functionTimes(tree, (f) => f.functionName).map((r) => [r.name, r]))
    expect(rows.get('score')).toEqual({ name: 'score', selfMs: 4.2, totalMs: 4.2 })
    expect(rows.get('rank')?.selfMs).toBeCloseTo(2, 6)
    expect(rows.get('rank')?.totalMs).toBeCloseTo(6.2, 6)
    expect(rows.get('refresh')?.totalMs).toBeCloseTo(8.2, 6)
    expect(rows.has('(idle)')).toBe(false)
    expect([...rows.keys()][0]).toBe('score')
  })
})
