// RFC 7396 JSON Merge Patch: objects merge recursively, null removes, anything else replaces.

/** Applies a merge patch to a JSON value and returns the result (inputs are not changed). */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const base: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {}
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key]
    else base[key] = applyMergePatch(base[key], value)
  }
  return base
}
