// The related-story engine's public surface: the refresh job and the CLI use only this.

export {
  type AddedWeight,
  type AssembleRequest,
  assembleIndex,
  type BaseDocs,
  type BaseMeta,
  type EncodedBase,
  encodeBase,
  extractRare,
  findRareHits,
  mergeRareHits,
  type RarePostings,
  rareHitsOf,
  StoredIndexError,
  termsOf,
  weighAdded,
} from './base-index.ts'
export { DEFAULT_RELATED_CONFIG, type RelatedConfig, resolveConfig } from './config.ts'
export { type DocVector, type RelatedSource, termHashes, vectorize } from './doc-vector.ts'
export { type EvalRecord, evalRecordToSource, evalSlug } from './eval-record.ts'
export {
  affectedBy,
  type FloorBound,
  insertRelated,
  type ListFloor,
  listFloor,
  type PeerHit,
  peersAbove,
  peersAboveDocs,
  type RelatedItem,
  rankRelated,
  type ScoredQueries,
} from './rank-related.ts'
export {
  buildIndex,
  type IndexBuilder,
  indexBuilder,
  type RelatedIndex,
  updateIndex,
} from './related-index.ts'
