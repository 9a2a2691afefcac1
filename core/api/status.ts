/**
 * The `/api/status` document: the process, the configuration (no secrets),
 * every service and plugin with its state, and the archive's figures (rates,
 * lag per topic-partition, totals, last commit, storage, errors) read from the
 * same statuses, so the figures equal the archive's own counts.
 */
import type { Config } from "../config/mod.ts";
import type { Figures } from "../metrics/figures.ts";
import type { ServiceStatus } from "../services/service.ts";
import type { Membership } from "../source/source.ts";
import { VERSION } from "../version.ts";
import type { ArchiveIndex } from "./archive_index.ts";
import { lagOf } from "./live.ts";
import { type ConfigSummary, configSummary } from "./config_summary.ts";

/** The `/api/status` document. */
export interface StatusDocument {
  process: { pid: number; version: string; startedAt: string; uptimeSeconds: number };
  /** When the figures were read, ISO time. */
  at: string;
  rates: Figures["rates"];
  totals: Figures["totals"];
  lag: {
    total: number | null;
    partitions: {
      topic: string;
      partition: number;
      lag: number | null;
      committedOffset: string | null;
    }[];
  };
  partitions: Figures["partitions"];
  /** This process's place in its consumer group (the partitions it owns); null without one. */
  group: Membership | null;
  lastCommit: Figures["lastCommit"];
  connected: boolean;
  problems: string[];
  storage: {
    location: string | null;
    problem: Figures["storageProblem"];
    filesWritten: number;
    bytesWritten: number;
    used: (ArchiveIndex["used"] & { listedAt: string }) | null;
  };
  errors: Figures["errors"];
  plugins: Figures["plugins"];
  services: ServiceStatus[];
  config: ConfigSummary;
}

/** What the status is built from. */
export interface StatusInputs {
  config: Config;
  startedAt: Date;
  services: ServiceStatus[];
  figures: Figures;
  /** The last listing of the archive storage, when one was made. */
  index: ArchiveIndex | null;
  /** This process's consumer group membership (the partitions it owns); null without one. */
  membership: Membership | null;
}

/** Builds the `/api/status` document. */
export function statusDocument(inputs: StatusInputs): StatusDocument {
  const { figures, startedAt, index } = inputs;
  return {
    process: {
      pid: Deno.pid,
      version: VERSION,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round((figures.t - startedAt.getTime()) / 1000),
    },
    at: new Date(figures.t).toISOString(),
    rates: figures.rates,
    totals: figures.totals,
    lag: {
      total: figures.lag,
      partitions: lagOf(figures).partitions.map((p, i) => ({
        ...p,
        committedOffset: figures.partitions[i].committedOffset,
      })),
    },
    partitions: figures.partitions,
    group: inputs.membership,
    lastCommit: figures.lastCommit,
    connected: figures.connected,
    problems: figures.problems,
    storage: {
      location: figures.storage ?? index?.location ?? null,
      problem: figures.storageProblem,
      filesWritten: figures.totals.files,
      bytesWritten: figures.totals.bytes,
      used: index === null ? null : { ...index.used, listedAt: index.listedAt },
    },
    errors: figures.errors,
    plugins: figures.plugins,
    services: inputs.services,
    config: configSummary(inputs.config),
  };
}
