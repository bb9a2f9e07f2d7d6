import { describe, expect, it } from 'vitest'
import { utcMillis } from '../../src/model/utc-time'
import { utcTimeCases } from '../fixtures/utc-times'

describe('utcMillis (in Node, as the CLIs run it)', () => {
  it('gives what Date.parse gives, for stored times and any other text', () => {
    const cases = utcTimeCases()
    const differ = cases.filter((t) => !Object.is(utcMillis(t), Date.parse(t)))
    expect(differ).toEqual([])
    // The fast path is taken: most of these are valid times.
    expect(cases.filter((t) => Number.isFinite(utcMillis(t))).length).toBeGreaterThan(10_000)
  })
})
