/**
 * Storage on a local (or locally mounted) filesystem through Deno's fs APIs, with the
 * fsyncs that make a resolved write survive a power cut. Metadata calls (stat, open,
 * mkdir, rename) are synchronous: on a local disk they take microseconds, while each
 * asynchronous one hops to a blocking thread, which cost the main thread more than the
 * call itself (about 1 s over a 100,000-alert burst). Data writes and fsyncs stay
 * asynchronous.
 */
import { dirname, join, resolve } from "node:path";
import { oneLine, StorageError, type StorageErrorKind, StorageNotFoundError } from "./errors.ts";
import { baseName, childPath, normalizeFilePath, normalizePath } from "./path.ts";
import type {
  Entry,
  FileData,
  RemoveOptions,
  RenameOptions,
  Storage,
  SyncOptions,
  Usage,
} from "./storage.ts";

/** Kinds to use instead of the default mapping for some Deno error classes, per operation. */
type KindOverrides = Partial<Record<string, StorageErrorKind>>;

const CODE_KINDS: Record<string, StorageErrorKind> = {
  ENOSPC: "no-space",
  EDQUOT: "no-space",
  EIO: "unavailable",
  EROFS: "read-only",
  EPERM: "permission",
  EACCES: "permission",
  ENOTEMPTY: "invalid",
  EXDEV: "invalid",
  EINVAL: "invalid",
};

const HINTS: Partial<Record<StorageErrorKind, string>> = {
  "no-space": "free disk space or raise the quota, then retry",
  "unavailable": "check the disk and the kernel log, then retry",
  "permission": "check the owner and mode of the archive directory",
  "read-only": "remount the archive's filesystem read-write",
};

function kindOf(error: unknown, overrides: KindOverrides): StorageErrorKind {
  if (!(error instanceof Error)) return "other";
  const override = overrides[error.name];
  if (override) return override;
  if (error instanceof Deno.errors.NotFound) return "not-found";
  if (error instanceof Deno.errors.AlreadyExists) return "already-exists";
  if (
    error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
  ) return "permission";
  if (error instanceof Deno.errors.IsADirectory || error instanceof Deno.errors.NotADirectory) {
    return "invalid";
  }
  const code = (error as { code?: unknown }).code;
  return (typeof code === "string" && CODE_KINDS[code]) || "other";
}

function localError(
  error: unknown,
  op: string,
  path: string,
  overrides: KindOverrides = {},
): StorageError {
  if (error instanceof StorageError) return error;
  const kind = kindOf(error, overrides);
  const code = (error as { code?: unknown })?.code;
  const detail = oneLine(error instanceof Error ? error.message : String(error));
  const hint = HINTS[kind];
  const message = `Local ${op} of "${path}" failed: ${detail}${hint ? `; ${hint}` : ""}`;
  const options = {
    op,
    path,
    exception: typeof code === "string" ? code : (error as Error)?.name,
    cause: error,
  };
  return kind === "not-found"
    ? new StorageNotFoundError(message, options)
    : new StorageError(kind, message, options);
}

/** The kinds of disk operation {@link LocalStorageOptions.onIo} is told about. */
export type IoOp = "write" | "fsync" | "dirFsync" | "rename" | "remove";

/** One disk operation of a {@link LocalStorage}, timed. */
export interface IoEvent {
  op: IoOp;
  /** Path relative to the storage root (the file's; for `dirFsync`, the directory's). */
  path: string;
  /** Wall time of the system calls, ms (concurrent operations overlap). */
  ms: number;
  /** Bytes written (`write` only; 0 otherwise). */
  bytes: number;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await file.write(data.subarray(offset));
}

function statOrNull(abs: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(abs);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

function toEntry(path: string, info: Deno.FileInfo): Entry {
  return {
    name: baseName(path),
    path,
    isDirectory: info.isDirectory,
    size: info.isDirectory ? 0 : info.size,
    modified: info.mtime,
  };
}

/** Options of {@link LocalStorage}. */
export interface LocalStorageOptions {
  /** Permission bits of the files it creates (`0o600`: the owner's only). Default: the umask's. */
  fileMode?: number;
  /**
   * Told after every data write, fsync, directory fsync, rename and removal,
   * with its duration: where the archive's time on disk goes.
   */
  onIo?: (event: IoEvent) => void;
}

/** Storage rooted at a local directory; the directory is created on first write. */
export class LocalStorage implements Storage {
  /** Absolute path of the root directory. */
  readonly location: string;
  readonly #fileMode: number | undefined;
  readonly #onIo: ((event: IoEvent) => void) | undefined;

  /** Roots the storage at `root`, resolved against the current directory when relative. */
  constructor(root: string, options: LocalStorageOptions = {}) {
    this.location = resolve(root);
    this.#fileMode = options.fileMode;
    this.#onIo = options.onIo;
  }

  #abs(rel: string): string {
    return rel === "" ? this.location : join(this.location, ...rel.split("/"));
  }

  /** Reports an operation that started at `t0` (`performance.now()`). */
  #done(op: IoOp, abs: string, t0: number, bytes = 0): void {
    if (this.#onIo === undefined) return;
    const path = abs === this.location
      ? ""
      : abs.slice(this.location.length + 1).replaceAll("\\", "/");
    this.#onIo({ op, path, ms: performance.now() - t0, bytes });
  }

  /** fsync a directory so entries created, renamed or removed in it survive a crash. */
  async #syncDir(absDir: string): Promise<void> {
    // Windows cannot open a directory as a file; NTFS journals metadata itself.
    if (Deno.build.os === "windows") return;
    const t0 = performance.now();
    const dir = Deno.openSync(absDir, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
    this.#done("dirFsync", absDir, t0);
  }

  /** Creates `absDir` and its missing ancestors, fsyncing each parent that gained an entry. */
  async #ensureDir(absDir: string): Promise<void> {
    const missing: string[] = [];
    let current = absDir;
    while (true) {
      const info = statOrNull(current);
      if (info) {
        if (!info.isDirectory) throw new Deno.errors.AlreadyExists(`${current} is a file`);
        break;
      }
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
    }
    for (const dir of missing.reverse()) {
      try {
        Deno.mkdirSync(dir);
      } catch (error) {
        // Another writer created it between our stat and mkdir: that is the wanted outcome.
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
      await this.#syncDir(dirname(dir));
    }
  }

  async #write(file: Deno.FsFile, abs: string, data: Uint8Array): Promise<void> {
    const t0 = performance.now();
    await writeAll(file, data);
    this.#done("write", abs, t0, data.byteLength);
  }

  async #fsync(file: Deno.FsFile, abs: string): Promise<void> {
    const t0 = performance.now();
    await file.sync();
    this.#done("fsync", abs, t0);
  }

  /** See {@link Storage.writeFile}. */
  async writeFile(path: string, data: FileData, options: SyncOptions = {}): Promise<void> {
    const rel = normalizeFilePath(path, "writeFile");
    const abs = this.#abs(rel);
    try {
      await this.#ensureDir(dirname(abs));
      let created = true;
      let file: Deno.FsFile;
      try {
        file = Deno.openSync(abs, { write: true, createNew: true, mode: this.#fileMode });
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        created = false;
        file = Deno.openSync(abs, { write: true, truncate: true });
      }
      try {
        if (data instanceof Uint8Array) {
          await this.#write(file, abs, data);
        } else {
          for await (const chunk of data) await this.#write(file, abs, chunk);
        }
        await this.#fsync(file, abs);
      } finally {
        file.close();
      }
      if (created && !options.deferFolderSync) await this.#syncDir(dirname(abs));
    } catch (error) {
      throw localError(error, "writeFile", rel, { IsADirectory: "already-exists" });
    }
  }

  /**
   * See {@link Storage.createIfAbsent}: the data goes to a hidden temporary file beside
   * `path`, fsynced, then `link(2)` gives it the name only if the name is free. A crash
   * between the two can leave that `.<name>.<random>.create` file behind; nothing reads it.
   */
  async createIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    const rel = normalizeFilePath(path, "createIfAbsent");
    const abs = this.#abs(rel);
    const temporary = join(dirname(abs), `.${baseName(rel)}.${crypto.randomUUID()}.create`);
    try {
      await this.#ensureDir(dirname(abs));
      if (statOrNull(abs) !== null) return false;
      const file = Deno.openSync(temporary, { write: true, createNew: true, mode: this.#fileMode });
      try {
        await this.#write(file, temporary, data);
        await this.#fsync(file, temporary);
      } finally {
        file.close();
      }
      try {
        Deno.linkSync(temporary, abs);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) return false;
        throw new StorageError(
          kindOf(error, {}),
          `Local createIfAbsent of "${rel}" could not link its data to the name: ${
            oneLine((error as Error).message)
          }; the archive's filesystem must support hard links (link(2))`,
          { op: "createIfAbsent", path: rel, cause: error },
        );
      } finally {
        Deno.removeSync(temporary);
      }
      await this.#syncDir(dirname(abs));
      return true;
    } catch (error) {
      throw localError(error, "createIfAbsent", rel);
    }
  }

  /** See {@link Storage.readFile}. */
  async readFile(path: string): Promise<Uint8Array> {
    const rel = normalizeFilePath(path, "readFile");
    try {
      return await Deno.readFile(this.#abs(rel));
    } catch (error) {
      throw localError(error, "readFile", rel, {
        IsADirectory: "not-found",
        NotADirectory: "not-found",
      });
    }
  }

  /** See {@link Storage.readRange}. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const rel = normalizeFilePath(path, "readRange");
    try {
      using file = await Deno.open(this.#abs(rel), { read: true });
      await file.seek(offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const n = await file.read(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      return filled === length ? buffer : buffer.slice(0, filled);
    } catch (error) {
      throw localError(error, "readRange", rel, {
        IsADirectory: "not-found",
        NotADirectory: "not-found",
      });
    }
  }

  /**
   * See {@link Storage.rename}: one atomic `rename(2)`; without replacing, `link(2)` (which
   * fails when the destination exists) then unlink of the source.
   */
  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const src = normalizeFilePath(from, "rename");
    const dst = normalizeFilePath(to, "rename");
    const absSrc = this.#abs(src);
    const absDst = this.#abs(dst);
    try {
      if (!statOrNull(absSrc)) {
        throw new StorageNotFoundError(
          `Cannot rename "${src}" to "${dst}": the source does not exist`,
          { op: "rename", path: src },
        );
      }
      if (src === dst) return;
      if (statOrNull(absDst)?.isDirectory) {
        throw new StorageError(
          "already-exists",
          `Cannot rename "${src}" to "${dst}": the destination is a directory; remove it first`,
          { op: "rename", path: dst },
        );
      }
      await this.#ensureDir(dirname(absDst));
      const t0 = performance.now();
      if (options.replace === false) {
        const source = statOrNull(absSrc);
        if (source?.isDirectory === true && statOrNull(absDst) === null) {
          Deno.renameSync(absSrc, absDst);
        } else if (source !== null) {
          try {
            Deno.linkSync(absSrc, absDst);
          } catch (error) {
            if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
            throw new StorageError(
              "already-exists",
              `Cannot rename "${src}" to "${dst}" without replacing: the destination exists`,
              { op: "rename", path: dst },
            );
          }
          Deno.removeSync(absSrc);
        } else {
          throw new Deno.errors.NotFound(`${src} vanished`);
        }
      } else {
        Deno.renameSync(absSrc, absDst);
      }
      this.#done("rename", absDst, t0);
      if (options.deferFolderSync) return;
      await this.#syncDir(dirname(absDst));
      if (dirname(absSrc) !== dirname(absDst)) await this.#syncDir(dirname(absSrc));
    } catch (error) {
      throw localError(error, "rename", `${src} -> ${dst}`);
    }
  }

  /** See {@link Storage.remove}. */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    const rel = normalizeFilePath(path, "remove");
    const abs = this.#abs(rel);
    try {
      const t0 = performance.now();
      await Deno.remove(abs, { recursive: options.recursive ?? false });
      this.#done("remove", abs, t0);
      if (!options.deferFolderSync) await this.#syncDir(dirname(abs));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return;
      }
      const mapped = localError(error, "remove", rel);
      if (mapped.exception === "ENOTEMPTY") {
        throw new StorageError(
          "invalid",
          `Cannot remove "${rel}": the directory is not empty; pass { recursive: true } to remove its contents too`,
          { op: "remove", path: rel, exception: "ENOTEMPTY", cause: error },
        );
      }
      throw mapped;
    }
  }

  /** See {@link Storage.syncFolders}: one fsync per distinct folder, side by side. */
  async syncFolders(folders: readonly string[]): Promise<void> {
    const rels = [...new Set(folders.map((f) => normalizePath(f, "syncFolders")))];
    try {
      await Promise.all(rels.map(async (rel) => {
        try {
          await this.#syncDir(this.#abs(rel));
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }));
    } catch (error) {
      throw localError(error, "syncFolders", rels.join(", "));
    }
  }

  /** See {@link Storage.list}. */
  async list(dir: string): Promise<Entry[]> {
    const rel = normalizePath(dir, "list");
    const abs = this.#abs(rel);
    const entries: Entry[] = [];
    try {
      for await (const item of Deno.readDir(abs)) {
        const path = childPath(rel, item.name);
        const info = statOrNull(join(abs, item.name));
        // A child deleted while we list, or a dangling symlink: not there for our purposes.
        if (info) entries.push(toEntry(path, info));
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      if (error instanceof Deno.errors.NotADirectory) {
        throw new StorageError(
          "invalid",
          `Cannot list "${rel}": expected a directory, found a file`,
          { op: "list", path: rel, exception: "ENOTDIR", cause: error },
        );
      }
      throw localError(error, "list", rel);
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** See {@link Storage.stat}. */
  stat(path: string): Promise<Entry | null> {
    let rel = path;
    try {
      rel = normalizePath(path, "stat");
      const info = statOrNull(this.#abs(rel));
      return Promise.resolve(info ? toEntry(rel, info) : null);
    } catch (error) {
      return Promise.reject(localError(error, "stat", rel));
    }
  }

  /** See {@link Storage.mkdirs}. */
  async mkdirs(path: string): Promise<void> {
    const rel = normalizePath(path, "mkdirs");
    try {
      await this.#ensureDir(this.#abs(rel));
    } catch (error) {
      throw localError(error, "mkdirs", rel, { NotADirectory: "already-exists" });
    }
  }

  /** See {@link Storage.usage}. */
  async usage(dir: string): Promise<Usage> {
    const rel = normalizePath(dir, "usage");
    const total: Usage = { files: 0, bytes: 0 };
    try {
      const info = statOrNull(this.#abs(rel));
      if (!info) return total;
      if (!info.isDirectory) return { files: 1, bytes: info.size };
      await addUsage(this.#abs(rel), total);
    } catch (error) {
      throw localError(error, "usage", rel);
    }
    return total;
  }
}

/** Adds the files below `absDir` to `total`; symlinked directories are not followed (no cycles). */
async function addUsage(absDir: string, total: Usage): Promise<void> {
  for await (const item of Deno.readDir(absDir)) {
    const abs = join(absDir, item.name);
    if (item.isDirectory) {
      await addUsage(abs, total);
      continue;
    }
    const info = statOrNull(abs);
    if (info && !info.isDirectory) {
      total.files += 1;
      total.bytes += info.size;
    }
  }
}
