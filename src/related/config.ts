// Every tunable of the related-story engine lives here, so the Worker and the CLI rank alike.

/** Weights and limits of the related-story engine; all fields are plain data. */
export interface RelatedConfig {
  /** How many related stories a list holds. */
  limit: number
  /** Weight of one headline occurrence relative to one body occurrence. */
  titleWeight: number
  /** Weight of one subtitle occurrence. */
  subtitleWeight: number
  /** Weight of one lede (summary) occurrence. */
  summaryWeight: number
  /** Weight of one body occurrence. */
  bodyWeight: number
  /** Extra factor for capitalised words inside sentences (names tell events apart). */
  properNounBoost: number
  /** Extra factor for words with digits (years, tolls, scores tell events apart). */
  numberBoost: number
  /** Weight of an adjacent word pair (phrases such as names) relative to a single word. */
  phraseWeight: number
  /** Exponent on idf: above 1 favours rare words such as names over topic words. */
  idfPower: number
  /** Most terms a stored vector keeps (the heaviest by field-weighted frequency). */
  maxTerms: number
  /** BM25-style saturation of term frequency; larger keeps more of the raw count. */
  k1: number
  /** BM25-style length normalisation, 0 (none) to 1 (full). */
  b: number
  /** Terms in more than this share of a large corpus are skipped when ranking (cost control). */
  maxDfShare: number
  /** Corpora smaller than this never skip frequent terms. */
  maxDfMinDocs: number
  /** In a large corpus, terms in at most this many documents are always kept. */
  maxDfFloor: number
  /** Added to the text score per shared theme, scaled by the larger theme count. */
  themeBoost: number
  /** Days for the recency factor to fall halfway from 1 to `recencyFloor`. */
  recencyHalfLifeDays: number
  /** Lowest recency factor: stories far apart in time are damped, never dropped. */
  recencyFloor: number
  /** Words per shingle for near-duplicate detection. */
  shingleSize: number
  /** Hashes kept per near-duplicate sketch (bottom-k MinHash). */
  sketchSize: number
  /** Texts with fewer shingles only match copies with exactly the same words. */
  minShingles: number
  /** Estimated shingle resemblance (Jaccard) at or above which two stories are copies. */
  nearDuplicateThreshold: number
  /** Drop copies of the source article itself, not just copies of each other. */
  collapseSourceCopies: boolean
  /** Scores below this never enter a list. */
  minScore: number
}

/** The configuration the site and the evaluation use unless told otherwise. */
export const DEFAULT_RELATED_CONFIG: RelatedConfig = Object.freeze({
  limit: 10,
  titleWeight: 3,
  subtitleWeight: 2,
  summaryWeight: 1.5,
  bodyWeight: 1,
  properNounBoost: 2,
  numberBoost: 1,
  idfPower: 1,
  phraseWeight: 1,
  maxTerms: 96,
  k1: 1.2,
  b: 0.5,
  maxDfShare: 0.005,
  maxDfMinDocs: 5000,
  maxDfFloor: 500,
  themeBoost: 0.1,
  recencyHalfLifeDays: 30,
  recencyFloor: 0.6,
  shingleSize: 5,
  sketchSize: 24,
  minShingles: 12,
  nearDuplicateThreshold: 0.7,
  collapseSourceCopies: true,
  minScore: 0,
})

/** Fills the fields a partial configuration leaves out with the defaults. */
export function resolveConfig(config?: Partial<RelatedConfig>): RelatedConfig {
  return config ? { ...DEFAULT_RELATED_CONFIG, ...config } : DEFAULT_RELATED_CONFIG
}
