/**
 * Messages exchanged between the plugin host and a plugin process (`child.ts`),
 * as JSON frames (frames.ts): no functions, bigints travel as strings.
 */
import type {
  OutputType,
  PluginConfig,
  PluginKind,
  PluginLogFields,
  PluginPermissions,
  SummaryRanking,
} from "./define.ts";

/** The serialisable part of a plugin manifest, as reported by the plugin process. */
export interface PluginDescription {
  name: string;
  description: string;
  version: string;
  kind: PluginKind;
  permissions: PluginPermissions;
  outputs: Record<string, OutputType>;
  columns?: string[];
  /** A filter's science inputs (plugin names). */
  science?: string[];
  budgetMs?: number;
  ranking?: SummaryRanking;
}

/**
 * Host → plugin process, one frame each (see frames.ts). The process describes its
 * manifest on its own once it has imported the plugin; `setup` then runs `setup()`,
 * and each `batch` frame carries the batch as Arrow IPC stream bytes in its payload.
 */
export type HostMessage =
  | { type: "setup"; config: PluginConfig; maxResultBytes: number }
  | { type: "batch"; seq: number };

/** Phases in which a plugin process can fail, so the host can word its report. */
export type FailurePhase = "load" | "setup" | "process" | "output" | "oversized";

/** An alert `process` could not handle: its row in the batch and why. */
export interface AlertFailure {
  row: number;
  reason: string;
}

/**
 * Plugin process → host. A `rows` frame carries the result rows as an Arrow IPC
 * table (`id` plus the declared outputs) in its payload; `failures` lists the
 * alerts that made `process` throw, isolated by retrying the batch in halves.
 */
export type WorkerMessage =
  | { type: "described"; description: PluginDescription }
  | { type: "ready"; outputs?: Record<string, OutputType> }
  | { type: "rows"; seq: number; processMs: number; failures: AlertFailure[] }
  | { type: "failed"; phase: FailurePhase; seq?: number; errorName: string; message: string }
  | { type: "log"; message: string; fields?: PluginLogFields };

/** The description of a validated manifest, dropping its functions. */
export function describeManifest(manifest: PluginDescription): PluginDescription {
  const description: PluginDescription = {
    name: manifest.name,
    description: manifest.description,
    version: manifest.version,
    kind: manifest.kind,
    permissions: structuredClone(manifest.permissions),
    outputs: { ...manifest.outputs },
  };
  if (manifest.columns !== undefined) description.columns = [...manifest.columns];
  if (manifest.science !== undefined) description.science = [...manifest.science];
  if (manifest.budgetMs !== undefined) description.budgetMs = manifest.budgetMs;
  if (manifest.ranking !== undefined) description.ranking = structuredClone(manifest.ranking);
  return description;
}
