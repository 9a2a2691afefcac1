/**
 * A consistent view of the archive for one query: the committed Parquet files
 * of each topic, each alert in exactly one of them (the archive's listing
 * already leaves out the inputs a merge superseded). Files past the
 * partition's committed offset (a batch still being written) are left out.
 */
import { join } from "node:path";
import type { Storage } from "../storage/storage.ts";
import { listArchivedFiles, listTopics } from "../archive/reader.ts";
import { readCommittedOffset } from "../archive/ledger.ts";

/** The committed files of one topic. */
export interface TopicFiles {
  topic: string;
  files: { path: string; hour: number }[];
}

/** Lists the archive under `root` (absolute, local) into one file list per topic. */
export async function archiveSnapshot(storage: Storage, root: string): Promise<TopicFiles[]> {
  const out: TopicFiles[] = [];
  for (const topic of (await listTopics(storage)).sort()) {
    const files = await listArchivedFiles(storage, topic);
    const committed = new Map<number, bigint>();
    for (const partition of new Set(files.map((f) => f.partition))) {
      committed.set(partition, await readCommittedOffset(storage, { topic, partition }));
    }
    const visible = files.filter((f) => f.endOffset <= committed.get(f.partition)!);
    if (visible.length > 0) {
      out.push({ topic, files: visible.map((f) => ({ path: join(root, f.path), hour: f.hour })) });
    }
  }
  return out;
}
