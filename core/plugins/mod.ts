/**
 * Plugin host: science modules as sandboxed plugin processes. See README.md.
 */
export * from "./define.ts";
export { createPluginHost } from "./host.ts";
export type { DispatchReport, PluginBatch, PluginHost, PluginHostOptions } from "./host.ts";
export type { PluginEvent, PluginState, PluginStatus } from "./runner.ts";
export type { PluginSummary } from "./summary.ts";
export { createParquetSink, resultFilePath, resultTable } from "./results.ts";
export type { ParquetSinkOptions, ResultBatchMeta, ResultSink } from "./results.ts";
export type { BatchTicket } from "./runner.ts";
export type { DispatchOptions } from "./host.ts";
export type { ResultReplace, ResultSource } from "./results.ts";
export type { ArchivedBatch } from "../archive/consumers.ts";
export { fileBatches, liveBatches } from "./archive_batches.ts";
export { type FeedStatus, StreamFeed, type StreamFeedOptions } from "./feed.ts";
export { type HourJobStatus, HourRuns, type HourRunsOptions } from "./hour_runs.ts";
export {
  formatHourRange,
  type HourRange,
  HourRangeError,
  parseHour,
  parseHourRange,
} from "../archive/hour_range.ts";
export { ProgressStore } from "./progress.ts";
