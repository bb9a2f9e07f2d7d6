// Each test arranges its own state: KV starts empty for every test.
import { reset } from 'cloudflare:test'
import { beforeEach } from 'vitest'
import { isolateCache } from '../../src/storage/isolate-cache'

beforeEach(async () => {
  await reset()
  // reset() empties KV underneath the Worker: values cached from the last test must go too.
  isolateCache.clear()
})
