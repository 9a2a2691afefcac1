/**
 * The `/api/archive` document: what the archive wrote since it started (per
 * topic-partition and per hour folder, from its details) and, when the
 * process can list the storage, what the storage holds.
 */
import type { Figures } from "../metrics/figures.ts";
import type { ArchiveIndex } from "./archive_index.ts";

/** The storage listing, or why there is none. */
export interface IndexResult {
  index: ArchiveIndex | null;
  error: string | null;
}

/** The `/api/archive` document. */
export interface ArchiveDocument {
  /** When the figures were read, ISO time. */
  at: string;
  storage: string | null;
  totals: Figures["totals"];
  lastCommit: Figures["lastCommit"];
  partitions: Figures["partitions"];
  /** Hour folders written since the archive started, by topic then hour. */
  hours: Figures["hours"];
  index: ArchiveIndex | null;
  indexError: string | null;
}

/** Builds the `/api/archive` document. */
export function archiveDocument(figures: Figures, listing: IndexResult): ArchiveDocument {
  const hours = [...figures.hours].sort((a, b) =>
    a.topic.localeCompare(b.topic) || a.hour.localeCompare(b.hour)
  );
  return {
    at: new Date(figures.t).toISOString(),
    storage: figures.storage ?? listing.index?.location ?? null,
    totals: figures.totals,
    lastCommit: figures.lastCommit,
    partitions: figures.partitions,
    hours,
    index: listing.index,
    indexError: listing.error,
  };
}
