// The `feed` package (through xml-js) escapes text inconsistently: it splits only the first
// `]]>` of a CDATA section, leaves `<` and `&` raw in some attributes, and turns a literal
// `&amp;` into `&`. So every text value goes in as an opaque slot token and is written back
// afterwards with the escaping its context needs. U+FFFF can never occur in sanitised input.
import { cdataBody, escapeXmlAttr, escapeXmlText } from './xml-text'

type SlotKind = 'T' | 'A' | 'C' | 'E'

const MARK = '\uFFFF'
const SLOT = /\uFFFF([TACE])(\d+)\uFFFF/g
// <name ...>TOKEN</name> or <name ...><![CDATA[TOKEN]]></name>
const WHOLE_ELEMENT = /<([\w:]+)(?:\s[^<>]*)?>(?:<!\[CDATA\[)?\uFFFFE(\d+)\uFFFF(?:\]\]>)?<\/\1>/g
// <name a="..." b="TOKEN" .../>
const EMPTY_ELEMENT = /<[\w:]+\s[^<>]*"\uFFFFE(\d+)\uFFFF"[^<>]*\/>/g

/** Hands out slot tokens and later replaces them with correctly escaped XML. */
export class XmlSlots {
  private readonly values: string[] = []

  private add(kind: SlotKind, value: string): string {
    this.values.push(value)
    return `${MARK}${kind}${this.values.length - 1}${MARK}`
  }

  /** A token for element text (xml-js writes it as character data). */
  text(value: string): string {
    return this.add('T', value)
  }

  /** A token for an attribute value. */
  attr(value: string): string {
    return this.add('A', value)
  }

  /** A token for the body of a CDATA section the package writes. */
  cdata(value: string): string {
    return this.add('C', value)
  }

  /**
   * A token standing for the whole element that holds it (as its text, CDATA or an attribute):
   * `value` is raw XML the caller has escaped itself, written in place of that element.
   */
  element(value: string): string {
    return this.add('E', value)
  }

  /** Replaces every token; a token left over would mean a context this class does not know. */
  resolve(xml: string): string {
    const value = (index: string) => {
      const found = this.values[Number(index)]
      if (found === undefined) throw new Error(`feed slot ${index} was never handed out`)
      return found
    }
    const raw = (_: string, __: string, index: string) => value(index)
    const out = xml
      .replace(WHOLE_ELEMENT, raw)
      .replace(EMPTY_ELEMENT, (_, index: string) => raw(_, '', index))
      .replace(SLOT, (_, kind: SlotKind, index: string) => {
        if (kind === 'T') return escapeXmlText(value(index))
        if (kind === 'A') return escapeXmlAttr(value(index))
        if (kind === 'C') return cdataBody(value(index))
        return value(index)
      })
    if (out.includes(MARK)) throw new Error('feed slot token left unresolved')
    return out
  }
}
