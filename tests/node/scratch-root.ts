// Global setup of the Node and browser test projects: one folder per run holds every scratch
// folder the tests make (local KV, imported files), removed when the run ends. Workers started
// by a test file use their folder until its `afterAll`, so nothing is removed earlier; a test
// process that is stopped rather than exiting cannot clean up after itself, the run can.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    scratchRoot: string
  }
}

export default function setup(project: TestProject) {
  const root = mkdtempSync(path.join(tmpdir(), 'edgewire-test-run-'))
  project.provide('scratchRoot', root)
  return () => rmSync(root, { recursive: true, force: true })
}
