import { describe, expect, it } from 'vitest'
import { utcMillis } from '../../src/model/utc-time'
import { utcTimeCases } from '../fixtures/utc-times'

describe('utcMillis (in workerd, as the Worker runs it)', () => {
  it("gives what workerd's Date.parse gives, for stored times and any other text", () => {
    const cases = utcTimeCases()
    const differ = cases.filter((t) => !Object.is(utcMillis(t), Date.parse(t)))
    expect(differ).toEqual([])
    expect(cases.filter((t) => Number.isFinite(utcMillis(t))).length).toBeGreaterThan(10_000)
  })
})
