/**
 * Plugin host: science modules as sandboxed Worker plugins. See README.md.
 */
export * from "./define.ts";
export { createPluginHost } from "./host.ts";
export type { DispatchReport, PluginBatch, PluginHost, PluginHostOptions } from "./host.ts";
export type { PluginEvent, PluginState, PluginStatus } from "./runner.ts";
export type { PluginSummary } from "./summary.ts";
export { createParquetSink, diskStorage, resultFilePath, resultTable } from "./results.ts";
export type { ParquetSinkOptions, ResultBatchMeta, ResultSink, ResultStorage } from "./results.ts";
