/**
 * Where DuckDB reads a Parquet file of the archive or of the science results.
 *
 * - Local roots: the file itself.
 * - Remote roots (WebHDFS): a local copy in the engine's cache folder, of the
 *   file's size but sparse, holding only the byte ranges queries needed,
 *   fetched through `Storage.readRange`: the footer, the column chunks of the
 *   columns the index reads, and the row groups holding the rows a query
 *   asks for. DuckDB reads only those: its projection reads the chunks of the
 *   columns a query names, and a filter on `file_row_number` skips the row
 *   groups that hold none of the rows (checked by tests/core/query/).
 *
 * Archived files never change once committed (a name is an offset range, and
 * a rewrite under the same name happens only to a batch that never
 * committed), so a copy is keyed by name and size and never goes stale.
 */
import { dirname, join } from "node:path";
import type { Storage } from "../storage/storage.ts";

/** Parts of a file a read touches. */
export type Need =
  /** The footer only (schemas). */
  | { footer: true }
  /** These top-level columns, in every row group. */
  | { columns: readonly string[] }
  /** Every column of the row groups holding these rows (`file_row_number`s). */
  | { rows: readonly number[] };

/** One row group's rows and the byte range of each column chunk (by top-level column). */
export interface RowGroupLayout {
  firstRow: number;
  rows: number;
  chunks: { column: string; start: number; end: number }[];
}

/** Reads a local Parquet file's footer into its row groups' layout (DuckDB does it). */
export type FooterReader = (localPath: string) => Promise<RowGroupLayout[]>;

/** The Parquet files of one storage root, as local paths DuckDB can read. */
export interface ParquetFiles {
  /** The local folder DuckDB reads below (for `allowed_directories`). */
  readonly localRoot: string;
  /** The local path of a file (relative to the storage root). */
  localPath(path: string): string;
  /** Makes the parts of the file that a read touches local; no-op for local roots. */
  prepare(file: { path: string; size: number }, need: Need): Promise<void>;
  /** Drops the local copies of files no longer listed. */
  forget(paths: Iterable<string>): Promise<void>;
}

/** The files of a local root: read in place. */
export class LocalParquetFiles implements ParquetFiles {
  constructor(readonly localRoot: string) {}

  localPath(path: string): string {
    return join(this.localRoot, path);
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  forget(): Promise<void> {
    return Promise.resolve();
  }
}

/** Bytes read from the end of a file at first, in the hope that they hold the whole footer. */
const TAIL_BYTES = 64 * 1024;
const MAGIC = new TextEncoder().encode("PAR1");

interface CachedFile {
  size: number;
  /** Fetched byte ranges, sorted and disjoint, end exclusive. */
  ranges: [number, number][];
  layout: RowGroupLayout[] | null;
  /** Calls for this file queue here: two queries never fetch the same range at once. */
  lock: Promise<void>;
}

/** Sparse local copies of a remote root's files; see the module comment. */
export class CachedParquetFiles implements ParquetFiles {
  #files = new Map<string, CachedFile>();

  /**
   * @param storage the remote root
   * @param localRoot an empty folder the engine owns (emptied first)
   */
  private constructor(
    readonly storage: Storage,
    readonly localRoot: string,
    readonly readFooter: FooterReader,
  ) {}

  /** Opens the cache in `localRoot`, deleting what a previous run left there. */
  static async open(
    storage: Storage,
    localRoot: string,
    readFooter: FooterReader,
  ): Promise<CachedParquetFiles> {
    await Deno.remove(localRoot, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.mkdir(localRoot, { recursive: true });
    return new CachedParquetFiles(storage, localRoot, readFooter);
  }

  localPath(path: string): string {
    return join(this.localRoot, path);
  }

  prepare(file: { path: string; size: number }, need: Need): Promise<void> {
    let cached = this.#files.get(file.path);
    if (cached === undefined || cached.size !== file.size) {
      cached = { size: file.size, ranges: [], layout: null, lock: Promise.resolve() };
      this.#files.set(file.path, cached);
    }
    const entry = cached;
    const run = entry.lock.then(() => this.#prepare(file.path, entry, need));
    entry.lock = run.catch(() => {});
    return run;
  }

  async forget(paths: Iterable<string>): Promise<void> {
    for (const path of paths) {
      if (!this.#files.delete(path)) continue;
      await Deno.remove(this.localPath(path)).catch(() => {});
    }
  }

  async #prepare(path: string, file: CachedFile, need: Need): Promise<void> {
    const local = this.localPath(path);
    if (file.ranges.length === 0) {
      await Deno.mkdir(dirname(local), { recursive: true });
      using out = await Deno.open(local, { create: true, write: true, truncate: true });
      await out.truncate(file.size);
    }
    if (file.layout === null) {
      const tail = Math.min(file.size, TAIL_BYTES);
      await this.#fetch(path, file, [[0, MAGIC.length], [file.size - tail, file.size]]);
      const footer = await this.#footerLength(local, file.size);
      if (footer + 8 > tail) await this.#fetch(path, file, [[file.size - footer - 8, file.size]]);
      file.layout = await this.readFooter(local);
    }
    const layout = file.layout;
    if ("footer" in need) return;
    const wanted: [number, number][] = [];
    if ("columns" in need) {
      const columns = new Set(need.columns);
      for (const group of layout) {
        for (const c of group.chunks) if (columns.has(c.column)) wanted.push([c.start, c.end]);
      }
    } else {
      for (const group of layout) {
        const holds = need.rows.some((r) => r >= group.firstRow && r < group.firstRow + group.rows);
        if (!holds || group.chunks.length === 0) continue;
        wanted.push([
          Math.min(...group.chunks.map((c) => c.start)),
          Math.max(...group.chunks.map((c) => c.end)),
        ]);
      }
    }
    await this.#fetch(path, file, wanted);
  }

  /** The footer's length, from the last 8 bytes (little-endian length, then `PAR1`). */
  async #footerLength(local: string, size: number): Promise<number> {
    using f = await Deno.open(local, { read: true });
    await f.seek(size - 8, Deno.SeekMode.Start);
    const last = new Uint8Array(8);
    await f.read(last);
    if (new TextDecoder().decode(last.subarray(4)) !== "PAR1") {
      throw new Error(`${local}: not a Parquet file (no PAR1 at its end)`);
    }
    return new DataView(last.buffer).getUint32(0, true);
  }

  /** Fetches the parts of `ranges` not fetched yet, merging neighbours into one request. */
  async #fetch(path: string, file: CachedFile, ranges: [number, number][]): Promise<void> {
    const missing = merge(ranges.flatMap((r) => subtract(r, file.ranges)), GAP_BYTES);
    if (missing.length === 0) return;
    using out = await Deno.open(this.localPath(path), { write: true });
    for (const [start, end] of missing) {
      const bytes = await this.storage.readRange(path, start, end - start);
      await out.seek(start, Deno.SeekMode.Start);
      for (let written = 0; written < bytes.length;) {
        written += await out.write(bytes.subarray(written));
      }
    }
    file.ranges = merge([...file.ranges, ...missing], 0);
  }
}

/** Ranges closer than this are fetched in one request (the gap comes along). */
const GAP_BYTES = 64 * 1024;

/** Ranges sorted, those that overlap or lie within `gap` bytes of each other merged. */
function merge(ranges: [number, number][], gap: number): [number, number][] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && a <= last[1] + gap) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The parts of `range` that none of `have` (sorted, disjoint) covers. */
function subtract(range: [number, number], have: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let [start] = range;
  const end = range[1];
  for (const [a, b] of have) {
    if (b <= start) continue;
    if (a >= end) break;
    if (a > start) out.push([start, a]);
    start = Math.max(start, b);
  }
  if (start < end) out.push([start, end]);
  return out;
}
