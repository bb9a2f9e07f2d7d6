// `npm run bench`: the related engine's figures, then the serving bench. Small sizes by default
// so it runs on a laptop in minutes; `--full` runs the related engine at 1k/10k/100k.
//   --full                 related engine at 1k, 10k and 100k articles
//   --reuse-state DIR      keep the seeded pre-tick KV state in DIR and reuse it next time
//                          (seeding 100k articles takes most of --full; empty DIR to reseed)
//   --rebuild-runs N       full rebuilds per size, the fastest shown (default 3)
//   --tick-runs N          runs of the +100 tick, each other on a fresh copy of the state
//                          in a new workerd; prints each, the fastest and the median (default 1)
//   --busy N               N more +100 ticks after the idle one (default 0)
//   --build                then more until a build of the related index in slices has ended
//   --cold                 every measured invocation in a workerd started for it (cold isolate)
//   --against SCRIPT       another build of the Worker (DIR/index.js of `wrangler deploy
//                          --dry-run --outdir DIR` in another checkout): its +100 tick runs as
//                          often as this tree's, the two taking turns; prints both and their
//                          differences run by run
//   --articles N           generated articles for the serving bench (default 10000)
//   --seconds S            seconds per timed run (default 3)
//   --rounds R             A/B rounds per URL (default 3)
//   --connections C        concurrent connections (default 8)
//   --soak S               seconds of the memory soak (default 60; 0 skips it)
//   --loader NAME          h2load or autocannon (default: h2load when installed)
//   --serve-only           skip the related engine
import { flag } from '../scripts/local-worker.ts'
import type { Loader } from './serve-load.ts'

const argv = process.argv.slice(2)
const number = (name: string) => {
  const raw = flag(argv, name)
  return raw === undefined ? undefined : Number(raw)
}

if (!argv.includes('--serve-only')) {
  // Imported here, not at the top: `--serve-only` then loads none of the related bench. An import
  // that fails fails the run, rather than being reported as a bench that is not there.
  const { runRelatedBench } = await import('./related-bench.ts')
  const sizes = argv.includes('--full') ? [1000, 10_000, 100_000] : [1000, 10_000]
  console.log(`## Related engine (${sizes.join(', ')} articles)\n`)
  const reuseState = flag(argv, '--reuse-state')
  const rebuildRuns = number('--rebuild-runs')
  const tickRuns = number('--tick-runs')
  const busyTicks = number('--busy')
  const against = flag(argv, '--against')
  await runRelatedBench({
    ...(against ? { against } : {}),
    sizes,
    ...(reuseState ? { reuseState } : {}),
    ...(rebuildRuns !== undefined ? { rebuildRuns } : {}),
    ...(tickRuns !== undefined ? { tickRuns } : {}),
    ...(busyTicks !== undefined ? { busyTicks } : {}),
    build: argv.includes('--build'),
    cold: argv.includes('--cold'),
  })
  console.log('')
}

console.log('## Serving\n')
const { runServeBench } = await import('./serve-bench.ts')
const loader = flag(argv, '--loader') as Loader | undefined
await runServeBench({
  ...(number('--articles') !== undefined ? { articles: number('--articles') } : {}),
  ...(number('--seconds') !== undefined ? { seconds: number('--seconds') } : {}),
  ...(number('--rounds') !== undefined ? { rounds: number('--rounds') } : {}),
  ...(number('--connections') !== undefined ? { connections: number('--connections') } : {}),
  ...(number('--soak') !== undefined ? { soakSeconds: number('--soak') } : {}),
  ...(loader ? { loader } : {}),
})
