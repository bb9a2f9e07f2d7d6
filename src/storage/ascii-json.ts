// JSON text with every character outside ASCII written as a \u escape, for the large values the
// refresh job reads back every tick (its catalog and delta) or every tick that touches them (the
// listing months). One character past Latin-1 anywhere in a value (a headline in Hindi) makes the
// whole text a two-byte string: twice the bytes to decode from UTF-8, hold and scan.
// Escaped, the 100k catalog's 16 shards are 1% larger (17.7 MB against 17.6 MB of UTF-8) and
// reading and parsing them in workerd took 71 ms of Worker CPU against 122 ms (median of 7 runs).

// Matches any UTF-16 code unit outside ASCII; a surrogate pair becomes two escapes, which
// JSON.parse joins back into the one character.
const NON_ASCII = /[\u0080-\uffff]/g

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** `JSON.stringify(value)` with only ASCII characters; `JSON.parse` gives back the same value. */
export function asciiJson(value: unknown): string {
  // ASCII text comes back from replace() as it was.
  return JSON.stringify(value).replace(NON_ASCII, escapeUnit)
}
