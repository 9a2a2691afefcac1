/**
 * Figures of the running process over time: the once-a-second recorder, the
 * persisted rate and class histories, and the figures read from the services.
 */
export * from "./figures.ts";
export { HISTORY_FILE, type HistoryPoint, type HistoryRange, RateHistory } from "./history.ts";
export type { RateHistoryOptions } from "./history.ts";
export { CLASS_HISTORY_FILE, ClassHistory, type ClassPoint } from "./class_history.ts";
export type { ClassHistoryOptions } from "./class_history.ts";
export { type FiguresListener, MetricsRecorder, type RecorderOptions } from "./recorder.ts";
