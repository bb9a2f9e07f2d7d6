import { describe, it } from 'vitest'
import { expectSameAsDateParse } from '../fixtures/utc-times'

describe('utcMillis (in workerd, as the Worker runs it)', () => {
  it("gives what workerd's Date.parse gives, for stored times and any other text", () => {
    expectSameAsDateParse()
  })
})
