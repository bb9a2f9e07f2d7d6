import { describe, expect, it } from 'vitest'
import { asciiJson } from '../../src/storage/ascii-json'

const ASCII = /^[\u0000-\u007f]*$/

describe('asciiJson', () => {
  it('writes only ASCII, and JSON.parse gives back the value', () => {
    const value = {
      latin1: 'Zürich café',
      devanagari: 'हिन्दी समाचार',
      astral: 'flags 🇺🇦 and 😀',
      lone: 'half \ud800 of a pair',
      separators: 'line\u2028paragraph\u2029end',
      control: 'bell\u0007 delete\u007f nul\u0000',
      nested: [{ ü: ['ß', 1.5, null, true] }],
    }
    const text = asciiJson(value)
    expect(text).toMatch(ASCII)
    expect(JSON.parse(text)).toEqual(value)
    // A two-byte character is one escape, an astral one two.
    expect(asciiJson('é')).toBe('"\\u00e9"')
    expect(asciiJson('😀')).toBe('"\\ud83d\\ude00"')
  })

  it('leaves ASCII text as JSON.stringify writes it', () => {
    const value = { slug: 'a-b', title: 'Plain "quoted" \\ text', n: [1, 2] }
    expect(asciiJson(value)).toBe(JSON.stringify(value))
  })
})
