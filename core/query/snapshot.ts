/**
 * A consistent view of the archive for one query: the committed Parquet files
 * of each topic, each alert in exactly one of them. While the compactor
 * renames a merged file into place and before it deletes the inputs, both
 * are listed; the inputs (whose offset range lies inside the merged file's)
 * are dropped here, so a reader never sees an alert twice. Files past the
 * partition's committed offset (a batch still being written) are left out.
 */
import { join } from "node:path";
import type { Storage } from "../storage/storage.ts";
import { type ArchivedFile, listArchivedFiles, listTopics } from "../archive/reader.ts";
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
    const visible = withoutMergedInputs(
      files.filter((f) => f.endOffset <= committed.get(f.partition)!),
    );
    if (visible.length > 0) {
      out.push({ topic, files: visible.map((f) => ({ path: join(root, f.path), hour: f.hour })) });
    }
  }
  return out;
}

/** Drops files whose offset range lies inside another file's of the same hour and partition. */
export function withoutMergedInputs(files: ArchivedFile[]): ArchivedFile[] {
  return files.filter((f) =>
    !files.some((g) =>
      g !== f && g.hourDir === f.hourDir && g.partition === f.partition &&
      g.startOffset <= f.startOffset && g.endOffset >= f.endOffset &&
      (g.endOffset - g.startOffset > f.endOffset - f.startOffset)
    )
  );
}
