// Unicode-aware tokenising for ranking (stemmed terms) and for copy detection (plain words).
import { stemmer } from 'stemmer'

/** English function words plus news boilerplate that says nothing about the story. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against ago all almost also although am among an and another any ' +
    'are around as at be because been before being below between both but by can cannot could ' +
    'did do does doing done down during each either else ever every few for from further get gets ' +
    'got had has have having he her here hers herself him himself his how however i if in into ' +
    'is it its itself just least less like made make many may me might more most much must my ' +
    'myself neither no nor not now of off often on once one only or other others our ours ' +
    'ourselves out over own per perhaps quite rather really said same say saying says see seen ' +
    'shall she should since so some still such than that the their theirs them themselves then ' +
    'there these they this those though through thus to too toward towards under until up upon ' +
    'us very via was we were what whatever when whenever where whether which while who whom whose ' +
    'why will with within without would yet you your yours yourself yourselves told tell tells ' +
    'according also dont doesnt didnt isnt wasnt wont cant couldnt wouldnt shouldnt arent werent ' +
    'hasnt havent hadnt im ive youre theyre thats theres whats lets http https www com html htm ' +
    'mr mrs ms dr st'
  ).split(' '),
)

/** One token of a text: the ranking term, or null for stop words. */
export interface Token {
  /** Lowercased word as written (copy detection uses these, stop words included). */
  word: string
  /** Stemmed term for ranking, or null when the word is a stop word or too short. */
  term: string | null
  /** Capitalised inside a sentence: most likely part of a name. */
  name: boolean
}

const WORD = /[\p{L}\p{N}]+(?:['’\u2019][\p{L}\p{N}]+)*/gu
const APOSTROPHE = /['’\u2019]/u
const UPPER = /^\p{Lu}/u
const ASCII_WORD = /^[a-z]+$/
const MARKDOWN_LINK_TARGET = /\]\([^)\s]*\)/g
const BARE_URL = /\bhttps?:\/\/\S+/gi

/** Does `text[from, to)` hold a sentence break (. ! ? : ; newline or a quote mark)? */
function gapBetween(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    // . ! ? : ; newline " “ ”
    if (
      c === 46 ||
      c === 33 ||
      c === 63 ||
      c === 58 ||
      c === 59 ||
      c === 10 ||
      c === 34 ||
      c === 0x201c ||
      c === 0x201d
    )
      return true
  }
  return false
}

/** Splits text into tokens; the same input gives the same tokens in every runtime. */
export function tokenize(text: string): Token[] {
  const clean = text.normalize('NFKC').replace(MARKDOWN_LINK_TARGET, ']').replace(BARE_URL, ' ')
  const tokens: Token[] = []
  let last = 0
  // Vectorizing is most of what a new story costs the tick; per word this avoids a slice, two
  // replaces for words with no apostrophe, and the capital test at a sentence's start.
  WORD.lastIndex = 0
  for (let match = WORD.exec(clean); match !== null; match = WORD.exec(clean)) {
    const start = match.index
    const raw = match[0]
    const sentenceStart = tokens.length === 0 || gapBetween(clean, last, start)
    last = start + raw.length
    let word = raw.toLowerCase()
    if (APOSTROPHE.test(word)) word = word.replace(/['’\u2019]s$/u, '').replace(/['’\u2019]/gu, '')
    tokens.push({ word, term: toTerm(word), name: !sentenceStart && UPPER.test(raw) })
  }
  return tokens
}

// Stems of words seen before: words repeat (a few thousand make most of any text), and the
// stemmer runs a dozen regular expressions per word. Bounded, and cleared whole when full.
const stems = new Map<string, string>()
const MAX_STEMS = 50_000

function toTerm(word: string): string | null {
  if (STOP_WORDS.has(word)) return null
  if (word.length < 2 && !/\p{N}/u.test(word)) return null
  // Porter stemming only understands English letters; other scripts are kept whole.
  if (!ASCII_WORD.test(word)) return word
  let stem = stems.get(word)
  if (stem === undefined) {
    stem = stemmer(word)
    if (stems.size >= MAX_STEMS) stems.clear()
    stems.set(word, stem)
  }
  return stem
}
