// Each test arranges its own state: KV starts empty for every test.
import { reset } from 'cloudflare:test'
import { beforeEach } from 'vitest'

beforeEach(async () => {
  await reset()
})
