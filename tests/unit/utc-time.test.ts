import { describe, it } from 'vitest'
import { expectSameAsDateParse } from '../fixtures/utc-times'

describe('utcMillis (in Node, as the CLIs run it)', () => {
  it('gives what Date.parse gives, for stored times and any other text', () => {
    expectSameAsDateParse()
  })
})
