// The related engine's bench at a tiny size: rebuilds in a heap-capped child, then the measured
// tick in workerd (the built Worker's scheduled handler) and its phases in Node. Shape only:
// every figure must be there and the additions must reach their peers; never timing.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScript } from './cli'

describe('related bench (tiny)', () => {
  it('prints the rebuild table, the workerd tick table (four invocations a tick), phases and projections', () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'related-bench-smoke-'))
    try {
      const result = runScript(
        'bench/related-bench.ts',
        [
          '150',
          '300',
          '--added',
          '12',
          '--no-quality',
          '--cache',
          cache,
          '--tick-runs',
          '2',
          // The bundle this run builds first: an A/A comparison, the two builds the same code.
          '--against',
          path.join('.wrangler', 'related-bench-build', 'index.js'),
        ],
        280_000,
      )
      expect(result.status, result.stderr).toBe(0)
      const out = result.stdout
      for (const size of [150, 300]) {
        expect(out).toMatch(new RegExp(`^${size} +[\\d.]+ MiB .* passed$`, 'm'))
      }
      // The tick is three cron invocations, as deployed: the content part, the documents, then
      // the related part.
      // `wrote`: whether the invocation had anything to write (a small site has no build).
      // `sampled`: whether it ran long enough for the profiler's 2 ms samples to see it.
      const invocation = (
        part: 'content' | 'documents' | 'related' | 'build',
        wrote = true,
        sampled = true,
      ) => {
        const row = new RegExp(
          `^\\+12 ${part} +(\\d+) ms +(\\d+) ms \\((\\d+) \\+ \\d+ \\+ \\d+\\) +(\\d+) ms +(\\d+) +(\\d+) +\\d+ +\\d+ +(\\d+) +(\\d+) +\\d+ +\\d+ +\\d+ +(\\d+) +\\d+ MB \\(\\d+ MB\\) +(\\d+) MB +\\d+$`,
          'm',
        ).exec(out)
        expect(row, out).not.toBeNull()
        const [cpu, worker, js, before, reads, writes, ops, ranked, pending, heap] = (
          row as RegExpExecArray
        )
          .slice(1)
          .map(Number) as number[]
        // The Worker isolate's CPU came from workerd's profiler: some JavaScript, and no more
        // than the whole process used (give or take /proc's 10 ms ticks and the 2 ms samples).
        if (sampled) expect(js).toBeGreaterThan(0)
        expect(worker).toBeGreaterThanOrEqual(js as number)
        expect(worker).toBeLessThanOrEqual((cpu as number) + 20)
        // Counting each sample for up to two intervals, as the bench did before, never reads less.
        expect(before).toBeGreaterThanOrEqual(worker as number)
        // Each invocation read and wrote, stayed under the platform's 1,000 operations, and
        // finished; the isolate's heap came through workerd's inspector.
        expect(reads).toBeGreaterThan(0)
        if (wrote) expect(writes).toBeGreaterThan(0)
        else expect(writes).toBe(0)
        expect(ops).toBeLessThan(1000)
        expect(pending).toBe(0)
        expect(heap).toBeGreaterThan(0)
        // The same samples by step: they share out the invocation's Worker CPU.
        const steps = new RegExp(
          `^Worker CPU by step, .*\\+12 ${part}: load (\\d+), changes (\\d+), lists (\\d+), related (\\d+), build (\\d+), documents (\\d+), save (\\d+) ms; `,
          'm',
        ).exec(out)
        expect(steps, out).not.toBeNull()
        const stepMs = (steps as RegExpExecArray).slice(1).map(Number)
        const stepSum = stepMs.reduce((a, b) => a + b, 0)
        expect(Math.abs(stepSum - (worker as number))).toBeLessThanOrEqual(4)
        return { worker: worker as number, ops: ops as number, ranked: ranked as number, stepMs }
      }
      const content = invocation('content')
      const documents = invocation('documents')
      const related = invocation('related')
      // The content part ranks no list and renders no document; the documents part does
      // neither of the others' work; the related part ranks the lists (at this size, every one in
      // one tick) and renders no document.
      expect(content.ranked).toBe(0)
      expect(content.stepMs[3]).toBe(0)
      expect(content.stepMs[5]).toBe(0)
      expect(documents.ranked).toBe(0)
      expect(documents.stepMs[3]).toBe(0)
      expect(documents.stepMs[5]).toBeGreaterThan(0)
      expect(related.ranked).toBeGreaterThanOrEqual(12)
      expect(related.stepMs[5]).toBe(0)
      // The bundle's names were read back: without them every sample would stay in one step.
      // Across the three (a small invocation's few samples may all fall in its main step, as the
      // documents invocation's 52 ms once did) the steps found are at least three.
      const stepsFound = [content, documents, related].flatMap((r) =>
        r.stepMs.flatMap((ms, i) => (ms > 0 ? [i] : [])),
      )
      expect(new Set(stepsFound).size, out).toBeGreaterThanOrEqual(3)
      // The build's invocation (RELATED_BUILD_CRON) ranks nothing: a small site has no build,
      // which it tells from the job's cursor alone, in one bulk read, without the catalog.
      const build = invocation('build', false, false)
      expect(build.ops).toBe(1)
      expect(build.ranked).toBe(0)
      expect(build.stepMs[3]).toBe(0)
      expect(build.stepMs[5]).toBe(0)
      // The +12 tick ran again on a fresh copy of the seeded state: the first run is the rows
      // above, the second did the same KV work, and fastest and median are of both.
      const part = (name: string) =>
        `${name} invocation: Worker CPU (\\d+), (\\d+) ms \\(fastest (\\d+), median (\\d+)\\); by step, the median of the runs: load \\d+, changes \\d+, lists \\d+, related \\d+, build \\d+, documents \\d+, save \\d+ ms; KV ops (\\d+), (\\d+)`
      const runs = new RegExp(
        `^the \\+12 tick in 2 runs .*: ${part('content')}; ${part('documents')}; ${part('related')}; ${part('build')}; the 4 invocations together: Worker CPU (\\d+), (\\d+) ms \\(fastest (\\d+), median (\\d+)\\)$`,
        'm',
      ).exec(out)
      expect(runs, out).not.toBeNull()
      const n = (runs as RegExpExecArray).slice(1).map(Number)
      for (const [k, one] of [content, documents, related, build].entries()) {
        const [first, second, fastest, middle, ops1, ops2] = n.slice(k * 6, k * 6 + 6) as number[]
        expect(first).toBe(one.worker)
        if (one !== build) expect(second).toBeGreaterThan(0)
        expect(fastest).toBe(Math.min(first as number, second as number))
        expect(
          Math.abs((middle as number) - ((first as number) + (second as number)) / 2),
        ).toBeLessThanOrEqual(1)
        expect(ops1).toBe(one.ops)
        expect(ops2).toBe(one.ops)
      }
      // With --against the other build's +12 tick ran as often, in turns: A B, then B A. Its A
      // runs are the two above, and each difference is of the two runs of a pair.
      const ab = (name: string) =>
        `${name} invocation: A (\\d+), (\\d+) \\(median \\d+\\), B (\\d+), (\\d+) \\(median \\d+\\), B - A by neighbouring pair ([+-]\\d+), ([+-]\\d+) \\(median [+-]\\d+\\)`
      const abRuns = new RegExp(
        `^the \\+12 tick, this tree \\(A\\) against \\S+related-bench-build/index\\.js \\(B\\), Worker CPU in ms, runs in the order A B B A, each on a fresh copy of the seeded state in a new workerd: ${ab('content')}; ${ab('documents')}; ${ab('related')}; ${ab('build')}; the 4 invocations together: ${ab('').slice(' invocation: '.length)}$`,
        'm',
      ).exec(out)
      expect(abRuns, out).not.toBeNull()
      const m = (abRuns as RegExpExecArray).slice(1).map(Number)
      for (const k of [0, 1, 2, 3]) {
        const [a1, a2, b1, b2, d1, d2] = m.slice(k * 6, k * 6 + 6) as number[]
        expect([a1, a2]).toEqual([n[k * 6], n[k * 6 + 1]])
        if (k < 3) expect((b1 as number) * (b2 as number)).toBeGreaterThan(0)
        expect(Math.abs((d1 as number) - ((b1 as number) - (a1 as number)))).toBeLessThanOrEqual(1)
        expect(Math.abs((d2 as number) - ((b2 as number) - (a2 as number)))).toBeLessThanOrEqual(1)
      }
      // Each run after the first removed 12 stories one interval after its +12 tick, in its
      // workerd: in the order B B A, the last B and the A the one pair.
      const abRemoval = (name: string) =>
        `${name} invocation: A (\\d+) \\(median \\d+\\), B (\\d+), (\\d+) \\(median \\d+\\), B - A by neighbouring pair ([+-]\\d+) \\(median [+-]\\d+\\)`
      const removalRuns = new RegExp(
        `^the -12 tick \\(12 stories removed one cron interval after each \\+12 run but the first, in its workerd\\), this tree \\(A\\) against \\S+ \\(B\\), Worker CPU in ms, runs in the order B B A: ${abRemoval('content')}; ${abRemoval('documents')}; ${abRemoval('related')}; ${abRemoval('build')}; the 4 invocations together: ${abRemoval('').slice(' invocation: '.length)}$`,
        'm',
      ).exec(out)
      expect(removalRuns, out).not.toBeNull()
      const r = (removalRuns as RegExpExecArray).slice(1).map(Number)
      for (const k of [0, 1, 2, 3, 4]) {
        const [a, , b2, d] = r.slice(k * 4, k * 4 + 4) as number[]
        expect(Math.abs((d as number) - ((b2 as number) - (a as number)))).toBeLessThanOrEqual(1)
      }
      // The removals were work: the content invocations read and wrote.
      expect((r[0] as number) * (r[1] as number) * (r[2] as number)).toBeGreaterThan(0)
      const [allFirst, allSecond] = n.slice(24) as number[]
      // Each figure is rounded on its own: the sum of four may differ by up to two.
      expect(
        Math.abs(
          (allFirst as number) -
            (content.worker + documents.worker + related.worker + build.worker),
        ),
      ).toBeLessThanOrEqual(2)
      expect(
        Math.abs(
          (allSecond as number) -
            ((n[1] as number) + (n[7] as number) + (n[13] as number) + (n[19] as number)),
        ),
      ).toBeLessThanOrEqual(2)
      // An idle tick writes nothing, in any invocation.
      for (const name of ['content', 'documents', 'related']) {
        expect(out).toMatch(
          new RegExp(
            `^idle ${name} +\\d+ ms +\\d+ ms \\(\\d+ \\+ \\d+ \\+ \\d+\\) +\\d+ ms +\\d+ +0 +0 +\\d+ +\\d+ +\\d+ +0 +0 +0 `,
            'm',
          ),
        )
      }
      expect(out).toMatch(
        /by phase: load \d+ ms, changes \d+ ms, lists \d+ ms, relatedPlan \d+ ms, related \d+ ms/,
      )
      const own =
        /own JavaScript \(src\/ code and the builtins it calls\) (\d+) ms, garbage collection \d+ ms, of (\d+) ms sampled busy/.exec(
          out,
        )
      expect(own, out).not.toBeNull()
      const [ownMs, busyMs] = (own as RegExpExecArray).slice(1).map(Number)
      expect(ownMs).toBeGreaterThan(0)
      expect(ownMs).toBeLessThanOrEqual(busyMs as number)
      // The tick ran again in a Node process with its heap capped, and fitted.
      expect(out).toMatch(
        /its heap, re-run in a Node process capped at --max-old-space-size=\d+ \(128 MB above .*\): passed; live heap above that, the most a full collection left: \d+ MB .*with the array buffers and other external memory the same collections left above the \d+ MB held before the tick .*: \d+ MB \(by phase: \w+ \d+/,
      )
      expect(out).toMatch(/projected per day at a tick every 15 min \(96 ticks\)/)
      expect(out).toMatch(
        /ticks until the 12 additions are in every peer list: 1; until nothing is pending, feeds and sitemaps included: 1 /,
      )
      // Then 12 stories removed: out of every peer list within the 3 ticks, as every
      // stored list, read back, shows.
      const removal =
        /^then 12 stories removed at once \(the -12 rows\): ticks until the related part had nothing pending: (\d+); of the (\d+) related lists stored then, (\d+) still held a removed story$/m.exec(
          out,
        )
      expect(removal, out).not.toBeNull()
      const [removalTicks, listsRead, held] = (removal as RegExpExecArray).slice(1).map(Number)
      expect(removalTicks).toBeGreaterThanOrEqual(1)
      expect(removalTicks).toBeLessThanOrEqual(3)
      expect(listsRead).toBeGreaterThanOrEqual(300 - 12)
      expect(held).toBe(0)
      expect(out).toMatch(/^-12 related +\d+ ms /m)
    } finally {
      rmSync(cache, { recursive: true, force: true })
    }
  }, 300_000)
})
