/**
 * A listing of the archive storage for `/api/archive`: Parquet files and
 * bytes per topic and hour folder, plus the quarantine, walked through the
 * Storage interface (local disk or HDFS). Walking HDFS is slow, so a listing
 * is reused for a while and concurrent requests share one walk.
 */
import type { Storage } from "../storage/storage.ts";

/** Files of one hour folder of one topic. */
export interface IndexedHour {
  topic: string;
  /** Hour folder below the topic, as written (`2024/05/01/03` or `year=2024/month=05/...`). */
  hour: string;
  files: number;
  bytes: number;
}

/** What the archive storage holds. */
export interface ArchiveIndex {
  location: string;
  /** When the listing was made, ISO time. */
  listedAt: string;
  hours: IndexedHour[];
  /** Quarantined alerts (each an .avro and a .json file). */
  quarantine: { files: number; bytes: number };
  /** Everything below the root, internal folders included. */
  used: { files: number; bytes: number };
}

/** Lists the archive storage. */
export type ArchiveIndexer = () => Promise<ArchiveIndex>;

/** Options of {@link createArchiveIndexer}. */
export interface ArchiveIndexOptions {
  /** A listing is reused this long. Default 10,000 ms. */
  cacheMs?: number;
}

/** An indexer over a storage; point it at the archive root. */
export function createArchiveIndexer(
  storage: Storage,
  options: ArchiveIndexOptions = {},
): ArchiveIndexer {
  const cacheMs = options.cacheMs ?? 10_000;
  let cached: { at: number; index: Promise<ArchiveIndex> } | null = null;
  return () => {
    const now = Date.now();
    if (cached === null || now - cached.at > cacheMs) {
      const index = listArchive(storage);
      cached = { at: now, index };
      // A failed walk is not reused: the next request tries again.
      index.catch(() => {
        if (cached?.index === index) cached = null;
      });
    }
    return cached.index;
  };
}

async function listArchive(storage: Storage): Promise<ArchiveIndex> {
  const hours: IndexedHour[] = [];
  for (const top of await storage.list("")) {
    // `_wal`, `_quarantine` and the like are the archive's own bookkeeping, not topics.
    if (!top.isDirectory || top.name.startsWith("_") || top.name.startsWith(".")) continue;
    await walkTopic(storage, top.name, top.path, hours);
  }
  hours.sort((a, b) => a.topic.localeCompare(b.topic) || a.hour.localeCompare(b.hour));
  const [quarantine, used] = await Promise.all([storage.usage("_quarantine"), storage.usage("")]);
  return {
    location: storage.location,
    listedAt: new Date().toISOString(),
    hours,
    quarantine,
    used,
  };
}

async function walkTopic(
  storage: Storage,
  topic: string,
  dir: string,
  out: IndexedHour[],
): Promise<void> {
  let files = 0;
  let bytes = 0;
  for (const entry of await storage.list(dir)) {
    if (entry.isDirectory) {
      await walkTopic(storage, topic, entry.path, out);
    } else if (entry.name.endsWith(".parquet")) {
      files++;
      bytes += entry.size;
    }
  }
  if (files > 0) out.push({ topic, hour: dir.slice(topic.length + 1), files, bytes });
}
