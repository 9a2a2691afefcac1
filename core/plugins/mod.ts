/**
 * Plugin host: science modules as sandboxed plugin processes. See README.md.
 */
export * from "./define.ts";
export { createPluginHost } from "./host.ts";
export type { DispatchReport, PluginBatch, PluginHost, PluginHostOptions } from "./host.ts";
export type { PluginEvent, PluginStatus } from "./runner.ts";
export type { PluginState } from "./lifecycle.ts";
export type { PluginSummary } from "./summary.ts";
export { createParquetSink, diskStorage, resultFilePath, resultTable } from "./results.ts";
export type { ParquetSinkOptions, ResultBatchMeta, ResultSink, ResultStorage } from "./results.ts";
export type { BatchTicket } from "./batch_queue.ts";
export type { DispatchOptions } from "./host.ts";
export type { ResultReplace, ResultSource } from "./results.ts";
export { type ArchivedBatch, fileBatches, liveBatches } from "./archive_batches.ts";
export { type FeedStatus, StreamFeed, type StreamFeedOptions } from "./feed.ts";
export { type HourJobStatus, HourRuns, type HourRunsOptions } from "./hour_runs.ts";
export {
  formatHourRange,
  type HourRange,
  HourRangeError,
  parseHour,
  parseHourRange,
} from "./hour_range.ts";
export { ProgressStore } from "./progress.ts";
