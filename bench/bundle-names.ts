// Original function names for a CPU profile of the built (minified) Worker, read through the
// source map wrangler writes beside the bundle, so the bench can tell the tick's steps apart in
// the Worker it ships rather than in an unminified build of its own.
import { existsSync, readFileSync } from 'node:fs'
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping'
import type { CallFrame, FrameNamer } from './isolate-inspector.ts'

/** Names frames of `scriptPath` as its source map does; other frames keep V8's name. */
export function bundleFrameNamer(scriptPath: string): FrameNamer {
  const mapFile = `${scriptPath}.map`
  if (!existsSync(mapFile)) return (frame) => frame.functionName
  const map = new TraceMap(readFileSync(mapFile, 'utf8'))
  const names = new Map<string, string>()
  // workerd reports the script's url as given to it, which may be relative.
  const inBundle = (frame: CallFrame) =>
    !!frame.url && scriptPath.endsWith(frame.url) && (frame.lineNumber ?? -1) >= 0
  return (frame) => {
    if (!inBundle(frame)) return frame.functionName
    const key = `${frame.lineNumber}:${frame.columnNumber}`
    let name = names.get(key)
    if (name === undefined) {
      // V8 reports where the function starts; the map names the identifier found there.
      const at = originalPositionFor(map, {
        line: (frame.lineNumber as number) + 1,
        column: frame.columnNumber ?? 0,
      })
      name = at.name ?? frame.functionName
      names.set(key, name)
    }
    return name
  }
}
