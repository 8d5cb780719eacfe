export {
  canonicalServiceTier,
  costMicros,
  fetchPricingFeed,
  formatPricingFeed,
  importPricingFeed,
  loadPricingFeedFile,
  loadVendoredPricingFeed,
  modelCandidates,
  parsePricingFeed,
  priceVersionOf,
  PricingFeedError,
  resolvePrice,
  IMPORTER_FORMAT_REVISION,
  LONG_CONTEXT_INPUT_TOKENS,
  PRICE_BUCKETS,
  PRICING_FEED_FORMAT,
  PRICING_FEED_FORMAT_REVISION,
  PRICING_SOURCE,
  VENDORED_PRICING_FEED,
} from './pricing-feed.ts';
export type {
  FeedRates,
  PriceRates,
  PricingFeed,
  PricingFeedErrorCode,
  PricingFeedModel,
  PricingImportResult,
  ResolvedPrice,
  ServiceTier,
  TierResolution,
  TokenUsage,
} from './pricing-feed.ts';
export type { AccountingTables, PricingSnapshotTable } from './pricing.table.ts';
export { closingEntry, ledgerEntries, PriceBook, releaseEventId, reservationEntry, reservationEventId, writeLedger } from './ledger.ts';
export type { LedgerRequest, ServedUsage } from './ledger.ts';
export { checkLimits, effectiveLimits, policyError } from './key-policies.ts';
export type { KeyLimits, KeyPolicy, KeyUsage, PolicyViolation } from './key-policies.ts';
export { KeyPolicyGate } from './key-policy-gate.ts';
export { getKeyLimits, listKeyLimits, mergeLimits, parseLimitsDocument, replaceKeyLimits, setKeyLimits, toLimitsDocument, LIMIT_FIELDS } from './key-limits.ts';
export type { KeyLimitsDocument, KeyLimitsView, LimitField, LimitValues } from './key-limits.ts';
export { coveredDays, parseUtcDay, rebuildDailyRollups, staleRollupDays, utcDayOf, ROLLUP_CONTRACT_VERSION, ROLLUP_DIMENSIONS } from './rollups.ts';
export type { RollupDimension, RollupRebuildResult, RollupTotals, TimeRange, UtcDay } from './rollups.ts';
export { planUsageSources, usageReport, USAGE_GROUPINGS } from './usage-report.ts';
export type { UsageGroupBy, UsageMeasures, UsageReport, UsageReportInput, UsageReportRow } from './usage-report.ts';
export { describeModelPrice, listModelPrices } from './price-catalog.ts';
export type { ModelPriceEntry, ModelPriceListing, TierPrice } from './price-catalog.ts';
export { releaseStaleReservations, STALE_RESERVATION_MS } from './stale-reservations.ts';
export type { StaleReservationResult } from './stale-reservations.ts';
export { isObservatoryWindow, keyObservatory, limitsWithHeadroom, OBSERVATORY_WINDOWS } from './observatory.ts';
export type { KeyObservatory, ObservatoryLimit, ObservatoryMeasures, ObservatoryOutcome, ObservatoryTotals, ObservatoryWindow } from './observatory.ts';
export { csvField, EXPORT_GROUPS, exportMeasures, toCsv, usageExport } from './usage-export.ts';
export type { ExportFormat, ExportGroup, UsageExport, UsageExportInput } from './usage-export.ts';
