import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { readSiteConfig } from '../../src/config'

// A new env object each time: readSiteConfig keeps one reading per env object.
const withZone = (zone: string) => readSiteConfig({ ...env, TIME_ZONE: zone })

describe('the TIME_ZONE setting', () => {
  it('takes canonical zones, their aliases and any case, and UTC when unset', () => {
    expect(withZone('Europe/London').timeZone).toBe('Europe/London')
    expect(withZone('US/Eastern').timeZone).toBe('US/Eastern')
    expect(withZone('asia/kolkata').timeZone).toBe('asia/kolkata')
    expect(withZone('').timeZone).toBe('UTC')
  })

  it('refuses a zone that does not exist, at start-up', () => {
    expect(() => withZone('Mars/Olympus_Mons')).toThrow(RangeError)
    expect(() => withZone('UTC+25')).toThrow(RangeError)
  })
})
