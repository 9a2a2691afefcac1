/**
 * The Storage contract the archive writes through: local disk or HDFS (WebHDFS),
 * same semantics, checked by one contract test suite for every backend.
 *
 * Paths are relative to the storage root and `/`-separated (`2024/05/01/03/part.parquet`);
 * a leading or trailing `/` is ignored, `""` is the root itself, and `.`, `..`, empty
 * segments and the characters `\`, `:` and NUL are refused with a `StorageError` of kind
 * `invalid`. Failures are always `StorageError`s (see `errors.ts`); a missing path is a
 * `StorageNotFoundError` where the method says so.
 */
export type { StorageErrorKind } from "./errors.ts";

/** A whole file's content: bytes, or a stream of chunks. */
export type FileData = Uint8Array | ReadableStream<Uint8Array>;

/** One file or directory, as returned by `list` and `stat`. */
export interface Entry {
  /** Last path segment (`""` for the storage root). */
  name: string;
  /** Path relative to the storage root, normalized (no leading or trailing `/`). */
  path: string;
  /** True for a directory, false for a file. */
  isDirectory: boolean;
  /** Size in bytes; 0 for directories. */
  size: number;
  /** Last modification time, or null when the backend does not report one. */
  modified: Date | null;
}

/** Result of `usage`: how much the files below a directory hold. */
export interface Usage {
  /** Number of files (directories not counted). */
  files: number;
  /** Total size of those files in bytes. */
  bytes: number;
}

/**
 * Options of the operations that change a folder's entries (`writeFile`, `rename`,
 * `remove`): a writer that changes several entries can make them durable together with
 * one {@link Storage.syncFolders} call instead of one fsync of the folder per operation.
 */
export interface SyncOptions {
  /**
   * Leave the durability of the folder entry this operation changes (a new file's name,
   * a renamed one, a removed one) to a later `syncFolders` of its folder; a crash before
   * it may undo the entry's change. A written file's data is still durable when
   * `writeFile` resolves, and so are the folders it created. No effect on HDFS, whose
   * namenode operations are durable when they return. Default false.
   */
  deferFolderSync?: boolean;
}

/** Options of `rename`. */
export interface RenameOptions extends SyncOptions {
  /**
   * Replace an existing file at `to` (default true). With false, an existing file or
   * directory at `to` is left alone and the rename fails with kind `already-exists`; of
   * several processes renaming one source at once, one moves it and the others fail with
   * `StorageNotFoundError` (the source is gone) or `already-exists`, never losing the file.
   */
  replace?: boolean;
}

/** Options of `remove`. */
export interface RemoveOptions extends SyncOptions {
  /** Remove a directory with everything below it; without it a non-empty directory is refused. */
  recursive?: boolean;
}

/** A place to keep files: local disk or HDFS. */
export interface Storage {
  /**
   * Where the storage root is, for logs and status: an absolute local path
   * (`/abs/archive`) or a URL (`webhdfs://127.0.0.1:9870/fink/archive`).
   */
  readonly location: string;

  /**
   * Writes `data` as the whole content of the file at `path`, creating missing parent
   * directories and replacing an existing file. When the promise resolves the data is
   * durable: on local disk the file is fsynced and so is every directory whose entries
   * changed (the file's parent, and the parents of newly created directories); on HDFS
   * the file is closed by the datanode pipeline. The write itself is NOT atomic: a crash
   * during it can leave a partial file, so write to a temporary name and `rename` it.
   * Fails with kind `already-exists` when `path` is a directory. A stream is written as its
   * chunks come, so a large file need not be held in memory; it can be consumed only once,
   * so a failed stream write is not retried (see `RetryingStorage`): the caller starts over.
   */
  writeFile(path: string, data: FileData, options?: SyncOptions): Promise<void>;

  /**
   * Creates the file at `path` with `data` only when nothing is there yet (a compare-and-set
   * on the name), creating missing parent directories. Resolves true when this call created
   * it, false when a file or directory was already at `path` (left untouched). Of any number
   * of concurrent calls for one path, from any number of processes and machines sharing the
   * storage, exactly one resolves true. Durable when the promise resolves, like `writeFile`.
   *
   * The file appears whole: the data is written and made durable under a hidden temporary
   * name beside `path` (`.<name>.<random>.create`, which a crash can leave behind), then
   * given the name only if it is free: on local disk `link(2)` (fails when `path` exists),
   * on HDFS RENAME (the namenode refuses an existing destination atomically).
   *
   * A retry after a lost answer cannot tell its own earlier success from another writer's:
   * put something unique to the writer in `data`, and when a call fails or resolves false
   * after a failure, read the file back and compare.
   */
  createIfAbsent(path: string, data: Uint8Array): Promise<boolean>;

  /**
   * Reads the whole file at `path`. Fails with `StorageNotFoundError` when no file is
   * there (nothing at all, or a directory: HDFS reports both the same way).
   */
  readFile(path: string): Promise<Uint8Array>;

  /**
   * Reads `length` bytes of the file at `path` from byte `offset` (fewer when the file ends
   * before; none from its end on), so a reader of Parquet footers and column chunks need
   * not fetch whole files. Fails like {@link readFile} when no file is there.
   */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array>;

  /**
   * Moves the file or directory `from` to `to`, creating `to`'s missing parent
   * directories and replacing an existing FILE at `to`. An existing directory at `to`
   * is never replaced nor moved into: that fails with kind `already-exists`. Fails with
   * `StorageNotFoundError` when `from` does not exist.
   *
   * Local disk: a single `rename(2)`, atomic, followed by an fsync of the parent
   * directories so the new name is durable.
   * HDFS: WebHDFS RENAME refuses an existing destination, so an existing file at `to` is
   * deleted first; between that DELETE and the RENAME (a few milliseconds) neither the
   * old nor the new `to` exists, and a crash in that window leaves `from` in place and
   * `to` missing. Recovery must therefore treat "temporary present, final missing" as
   * "rename again". Several processes completing the same renames must use
   * `{ replace: false }`: the delete of a destination another one has just moved into place
   * would lose the file. Without replacing: locally `link(2)` then unlink of the source for a
   * file (a crash between leaves both names, the same bytes); on HDFS a plain RENAME.
   */
  rename(from: string, to: string, options?: RenameOptions): Promise<void>;

  /**
   * Makes the entries changed in these folders durable: those `deferFolderSync` left
   * (local disk: one fsync per folder, in parallel; HDFS: nothing to do). A missing
   * folder is not an error.
   */
  syncFolders(folders: readonly string[]): Promise<void>;

  /**
   * Removes the file or directory at `path`. Missing paths are not an error. A
   * non-empty directory needs `{ recursive: true }`, otherwise it fails with kind
   * `invalid` and nothing is removed. The storage root itself cannot be removed.
   */
  remove(path: string, options?: RemoveOptions): Promise<void>;

  /**
   * The direct children of directory `dir`, sorted by name. A missing `dir` gives `[]`;
   * a `dir` that is a file fails with kind `invalid`.
   */
  list(dir: string): Promise<Entry[]>;

  /** The file or directory at `path`, or null when nothing is there. */
  stat(path: string): Promise<Entry | null>;

  /**
   * Creates directory `path` and any missing parents; an existing directory is fine.
   * Fails with kind `already-exists` when a file is in the way.
   */
  mkdirs(path: string): Promise<void>;

  /**
   * Counts the files below `dir`, recursively, and sums their sizes. A missing `dir`
   * gives `{ files: 0, bytes: 0 }`; a file gives `{ files: 1, bytes: <its size> }`.
   */
  usage(dir: string): Promise<Usage>;
}
