import { XMLParser } from 'fast-xml-parser'
import { describe, expect, it } from 'vitest'
import { cutMarkdown, readMoreHtml, truncatedBody } from '../../src/feeds/item-content'
import { XmlSlots } from '../../src/feeds/xml-slots'
import { cdataBody, escapeXmlAttr, stripNonXml, utf8Length } from '../../src/feeds/xml-text'

const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false })

describe('stripNonXml()', () => {
  it('removes C0 controls, U+FFFE/U+FFFF and lone surrogates but keeps tab, newlines and emoji', () => {
    expect(stripNonXml('a\u0000b\u0008c\u000Bd\u001Fe\uFFFEf\uFFFFg')).toBe('abcdefg')
    expect(stripNonXml('x\uD800y\uDC00z')).toBe('xyz')
    expect(stripNonXml('\t\n\r😀 שלום')).toBe('\t\n\r😀 שלום')
  })
})

describe('cdataBody()', () => {
  it('splits every `]]>`, so a parser reads the text back unchanged', () => {
    const text = 'a ]]> b ]]>]]> c'
    const doc = `<x><![CDATA[${cdataBody(text)}]]></x>`
    expect(parser.parse(doc).x).toBe(text)
  })
})

describe('XmlSlots', () => {
  it('writes text, attribute and CDATA slots with the escaping each context needs', () => {
    const s = new XmlSlots()
    const doc = `<r a="${s.attr('"1" & <2>')}"><t>${s.text('AT&amp;T <b>')}</t><c><![CDATA[${s.cdata(']]>]]>')}]]></c></r>`
    const read = parser.parse(s.resolve(doc)).r
    expect(read['@_a']).toBe('"1" & <2>')
    expect(read.t).toBe('AT&amp;T <b>')
    expect(read.c).toBe(']]>]]>')
  })

  it('replaces the whole element that holds an element slot', () => {
    const s = new XmlSlots()
    const doc = `<r><title type="html"><![CDATA[${s.element('<title type="text">x</title>')}]]></title><link rel="enclosure" title="${s.element('<link/>')}" type="image/jpg"/></r>`
    expect(s.resolve(doc)).toBe('<r><title type="text">x</title><link/></r>')
  })

  it('refuses a token it never handed out or cannot resolve', () => {
    expect(() => new XmlSlots().resolve('<r>\uFFFFT9\uFFFF</r>')).toThrow(/never handed out/)
    expect(() => new XmlSlots().resolve('<r>\uFFFFQ1\uFFFF</r>')).toThrow(/unresolved/)
  })

  it('escapes attribute whitespace as references so it survives normalisation', () => {
    expect(escapeXmlAttr('a\tb\nc')).toBe('a&#9;b&#10;c')
  })
})

describe('cutMarkdown()', () => {
  it('cuts at the last blank line in the second half of the window', () => {
    expect(cutMarkdown('one two\n\nthree four\n\nfive six', 22)).toBe('one two\n\nthree four')
  })

  it('falls back to a space, and never splits a surrogate pair', () => {
    expect(cutMarkdown('alpha beta gamma', 13)).toBe('alpha beta')
    expect(cutMarkdown('😀😀😀😀', 3)).toBe('😀')
  })

  it('returns short text unchanged', () => {
    expect(cutMarkdown('short', 10)).toBe('short')
  })
})

describe('truncatedBody()', () => {
  it('stays within budget, ends with the Read more link and leaves no tag open', () => {
    const md = Array.from({ length: 200 }, (_, i) => `- item **${i}** with [a link](/x/${i})`).join(
      '\n',
    )
    const url = 'https://edgewire.example/articles/list'
    const html = truncatedBody(md, url, 2_000, utf8Length, utf8Length(md) * 2)
    expect(utf8Length(html)).toBeLessThanOrEqual(2_000)
    expect(html.endsWith(readMoreHtml(url))).toBe(true)
    expect(html.match(/<ul>/g)?.length).toBe(html.match(/<\/ul>/g)?.length)
    expect(html).toContain('href="https://edgewire.example/x/1"')
  })

  it('gives just the Read more link when the budget holds nothing else', () => {
    const url = 'https://edgewire.example/articles/x'
    expect(truncatedBody('word '.repeat(1000), url, 60, utf8Length, 5000)).toBe(readMoreHtml(url))
  })
})
