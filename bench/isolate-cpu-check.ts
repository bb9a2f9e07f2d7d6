// Checks how the bench reads a Worker's CPU from workerd's profiler: the same JavaScript workload
// runs in workerd with and without KV writes between its steps, and the isolate's profile is read
// three ways: summing every sample's time delta (the bench's first reading), each sample counting
// at most two intervals (its second), and at most 1.1 (`isolateCpu`, the bench's reading now).
// The workload's CPU does not change with the writes, so a reading that grows with them by more
// than the isolate's own work for a put is charging local KV's emulation to the Worker.
//   node --import tsx bench/isolate-cpu-check.ts [--runs N] [--writes N] [--value-kb N]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Miniflare } from 'miniflare'
import { flag, freePort } from '../scripts/local-worker.ts'
import {
  isolateCpu,
  isolateProbe,
  MAX_INTERVALS_PER_SAMPLE,
  SAMPLING_INTERVAL_US,
  totalCpuMs,
} from './isolate-inspector.ts'
import { cpuMs, workerdPid } from './workerd-process.ts'

const argv = process.argv.slice(2)
const runs = Number(flag(argv, '--runs') ?? 3)
const steps = Number(flag(argv, '--writes') ?? 200)
const valueKb = Number(flag(argv, '--value-kb') ?? 200)
// About 15 ms of JavaScript per step on the machine the README's figures come from.
const rounds = Number(flag(argv, '--rounds') ?? 3_000_000)

async function measure(writes: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'edgewire-cpu-check-'))
  const inspectorPort = await freePort()
  const mf = new Miniflare({
    scriptPath: fileURLToPath(new URL('./fixtures/cpu-check-worker.js', import.meta.url)),
    modules: true,
    compatibilityDate: '2025-01-01',
    kvNamespaces: { KV: 'cpu-check' },
    kvPersist: dir,
    bindings: {
      STEPS: String(steps),
      ROUNDS: String(rounds),
      VALUE_BYTES: String(valueKb * 1024),
      WRITES: writes ? '1' : '0',
    },
    inspectorPort,
  })
  try {
    await mf.ready
    const worker = await mf.getWorker()
    const probe = await isolateProbe(inspectorPort)
    const pid = workerdPid()
    // One run to compile and warm up, then the measured one.
    await worker.scheduled({ cron: '', scheduledTime: new Date() })
    await probe.startProfile()
    const before = cpuMs(pid)
    await worker.scheduled({ cron: '', scheduledTime: new Date() })
    const processMs = cpuMs(pid) - before
    const profile = await probe.stopRawProfile()
    probe.close()
    return {
      processMs,
      // With no cap every delta counts whole, gaps included: the bench's first reading.
      summedMs: totalCpuMs(isolateCpu(profile, Number.POSITIVE_INFINITY)),
      twoIntervalsMs: totalCpuMs(isolateCpu(profile, SAMPLING_INTERVAL_US, 2)),
      cappedMs: totalCpuMs(isolateCpu(profile, SAMPLING_INTERVAL_US)),
    }
  } finally {
    await mf.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

console.log(
  `${steps} steps of the same JavaScript, with and without a ${valueKb} KB KV write after each; ` +
    `profiled every ${SAMPLING_INTERVAL_US / 1000} ms`,
)
console.log(
  `writes  workerd process  deltas summed  capped at 2 intervals  capped at ${MAX_INTERVALS_PER_SAMPLE} (the bench)`,
)
const f0 = (ms: number) => `${Math.round(ms)} ms`
for (let run = 0; run < runs; run++) {
  for (const writes of [false, true]) {
    const r = await measure(writes)
    console.log(
      `${(writes ? 'yes' : 'no').padEnd(6)}  ${f0(r.processMs).padEnd(15)}  ${f0(r.summedMs).padEnd(13)}  ${f0(r.twoIntervalsMs).padEnd(21)}  ${f0(r.cappedMs)}`,
    )
  }
}
