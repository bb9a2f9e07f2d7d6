// Text that ends up in a feed: the code points XML 1.0 forbids are removed, and each XML context
// (text, attribute, CDATA) gets the escaping it needs. Shared by all three formats.

/** C0 controls except tab/LF/CR, U+FFFE/U+FFFF and (with the u flag) lone surrogates. */
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/gu

/** Removes every code point that is not an XML 1.0 `Char`; paired surrogates (emoji) stay. */
export function stripNonXml(text: string): string {
  return text.replace(NOT_XML_CHAR, '')
}

/** Escapes for XML character data (element text). */
export function escapeXmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Escapes for a double-quoted XML attribute; tab and line breaks as references survive normalisation. */
export function escapeXmlAttr(text: string): string {
  return escapeXmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
}

/** Body of a CDATA section: EVERY `]]>` is split across two sections, not just the first. */
export function cdataBody(text: string): string {
  return text.replaceAll(']]>', ']]]]><![CDATA[>')
}

/** Escapes plain text for HTML (text and double-quoted attributes). */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}

const encoder = new TextEncoder()

/** UTF-8 length in bytes, the unit of `maxBytes`. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length
}
