/**
 * What the query engine reads, listed through Storage (local disk or WebHDFS):
 * the committed Parquet files of each archive topic, each alert in exactly one
 * of them (the archive's listing leaves out the inputs a merge superseded;
 * files past the partition's committed offset, a batch still being written,
 * are left out here), and the result files of each science plugin.
 *
 * Listing every hour folder again for each refresh would cost a request per
 * hour on HDFS: an hour folder is listed again only when its modification
 * time changed, when that time is recent (two changes within the clock's
 * resolution share one time) and at least once a minute.
 */
import type { Storage } from "../storage/storage.ts";
import { listArchivedHours, listHourFiles, listTopics } from "../archive/reader.ts";
import { readCommittedOffset } from "../archive/ledger.ts";
import { TMP_SUFFIX } from "../storage/atomic_replace.ts";
import type { ArchivedFile, ArchivedHour } from "../archive/reader.ts";

/** A Parquet file the engine reads. */
export interface ListedFile {
  /** Path relative to its storage root. */
  path: string;
  /** Its event hour, in whole hours since the Unix epoch. */
  hour: number;
  size: number;
}

/** The committed files of one topic. */
export interface TopicFiles {
  topic: string;
  files: ListedFile[];
}

/** Options of {@link FolderListing}. */
export interface ListingOptions {
  /** The clock (ms). Default `Date.now`. */
  now?: () => number;
}

/** A folder modified this recently is listed again whatever its time says. */
const RECENT_MS = 10_000;
/** Every folder is listed again at least this often. */
const FULL_MS = 60_000;

interface CachedHour<F> {
  modified: number;
  listedAt: number;
  files: F[];
}

/** Lists one storage root's hour folders, reusing the listings of those that did not change. */
export class FolderListing {
  #hours = new Map<string, CachedHour<unknown>>();
  #seen = new Set<string>();

  constructor(readonly storage: Storage, readonly options: ListingOptions = {}) {}

  /** The committed files of every topic of an archive root, topics sorted by name. */
  async archive(): Promise<TopicFiles[]> {
    this.#seen.clear();
    const out: TopicFiles[] = [];
    for (const topic of (await listTopics(this.storage)).sort()) {
      const files: ArchivedFile[] = [];
      for (const hour of await listArchivedHours(this.storage, topic)) {
        files.push(
          ...await this.#hour(hour, () => listHourFiles(this.storage, { topic, ...hour })),
        );
      }
      const committed = new Map<number, bigint>();
      for (const partition of new Set(files.map((f) => f.partition))) {
        committed.set(partition, await readCommittedOffset(this.storage, { topic, partition }));
      }
      const visible = files.filter((f) => f.endOffset <= committed.get(f.partition)!);
      if (visible.length > 0) {
        out.push({
          topic,
          files: visible.map((f) => ({ path: f.path, hour: f.hour, size: f.size })),
        });
      }
    }
    this.#forgetUnseen();
    return out;
  }

  /** The result files of each plugin of a science root (`<plugin>/YYYY/MM/dd/hh/*.parquet`). */
  async science(plugins: readonly string[]): Promise<Map<string, ListedFile[]>> {
    this.#seen.clear();
    const out = new Map<string, ListedFile[]>();
    for (const plugin of plugins) {
      const files: ListedFile[] = [];
      for (const hour of await listArchivedHours(this.storage, plugin)) {
        files.push(
          ...await this.#hour(hour, async () =>
            (await this.storage.list(hour.dir))
              .filter((e) => !e.isDirectory && e.name.endsWith(".parquet"))
              .filter((e) => !e.name.endsWith(TMP_SUFFIX))
              .map((e) => ({ path: e.path, hour: hour.hour, size: e.size }))),
        );
      }
      out.set(plugin, files);
    }
    this.#forgetUnseen();
    return out;
  }

  async #hour<F>(hour: ArchivedHour, list: () => Promise<F[]>): Promise<F[]> {
    this.#seen.add(hour.dir);
    const now = (this.options.now ?? Date.now)();
    const modified = hour.modified?.getTime() ?? null;
    const cached = this.#hours.get(hour.dir) as CachedHour<F> | undefined;
    if (
      cached !== undefined && modified !== null && cached.modified === modified &&
      now - modified > RECENT_MS && now - cached.listedAt < FULL_MS
    ) {
      return cached.files;
    }
    const files = await list();
    if (modified !== null) this.#hours.set(hour.dir, { modified, listedAt: now, files });
    return files;
  }

  #forgetUnseen(): void {
    for (const dir of this.#hours.keys()) if (!this.#seen.has(dir)) this.#hours.delete(dir);
  }
}
