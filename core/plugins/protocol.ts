/**
 * Messages exchanged between the plugin host and a plugin Worker (`worker.ts`).
 * Everything here must survive structured cloning: no functions, bigint allowed.
 */
import type {
  OutputType,
  PluginKind,
  PluginPermissions,
  PluginRow,
  SummaryRanking,
} from "./define.ts";

/** The serialisable part of a plugin manifest, as reported by the Worker. */
export interface PluginDescription {
  name: string;
  description: string;
  version: string;
  kind: PluginKind;
  permissions: PluginPermissions;
  outputs: Record<string, OutputType>;
  columns?: string[];
  budgetMs?: number;
  ranking?: SummaryRanking;
}

/**
 * Host → Worker. `probe` imports the plugin and reports its manifest only; `run` also
 * runs `setup` and then accepts batches, refusing a manifest that differs from `expect`.
 */
export type HostMessage =
  | { type: "probe"; url: string }
  | {
    type: "run";
    url: string;
    config: Record<string, unknown>;
    expect: PluginDescription;
  }
  | { type: "batch"; seq: number; ipc: ArrayBuffer };

/** Phases in which a Worker can fail, so the host can word its report. */
export type FailurePhase = "load" | "setup" | "process" | "output";

/** Worker → host. */
export type WorkerMessage =
  | { type: "described"; description: PluginDescription }
  | { type: "ready"; outputs?: Record<string, OutputType> }
  | { type: "rows"; seq: number; rows: PluginRow[]; processMs: number }
  | { type: "failed"; phase: FailurePhase; seq?: number; errorName: string; message: string }
  | { type: "log"; message: string; fields?: Record<string, unknown> };

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
  if (manifest.budgetMs !== undefined) description.budgetMs = manifest.budgetMs;
  if (manifest.ranking !== undefined) description.ranking = structuredClone(manifest.ranking);
  return description;
}
