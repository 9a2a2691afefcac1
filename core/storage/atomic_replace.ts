/**
 * Atomic replace, the one way files that must survive a crash whole are
 * written: the data goes to a temporary name beside the file (durable when
 * `writeFile` resolves: fsynced on local disk, closed by the pipeline on HDFS),
 * then is renamed over the file. A reader sees the old content or the new,
 * never a part.
 *
 * One case is left by HDFS: its rename deletes the old file first, so a crash
 * between that delete and the rename leaves only the temporary copy, and that
 * copy is complete (it was written before the rename began). Reading back with
 * {@link readReplaced} takes it then; a temporary copy torn by a crash while
 * it was written fails its parse and the final one holds.
 */
import { StorageNotFoundError } from "./errors.ts";
import type { FileData, Storage } from "./storage.ts";

/** Suffix of a file being written under its temporary name; never read as data. */
export const TMP_SUFFIX = ".tmp";

/** Options of {@link replaceFile}. */
export interface ReplaceOptions {
  /**
   * A temporary name of its own (`<path>.<random>.tmp`) for writers that may
   * replace the same file at the same time; a crash leaves it behind (readers
   * skip `.tmp` files). Default false: `<path>.tmp`, what {@link readReplaced}
   * and the recoveries look for.
   */
  unique?: boolean;
}

/** The temporary name `path` is written under before it is renamed into place. */
export function temporaryOf(path: string): string {
  return path + TMP_SUFFIX;
}

/** A temporary name of its own for `path` (see {@link ReplaceOptions.unique}). */
export function uniqueTemporaryOf(path: string): string {
  return `${path}.${crypto.randomUUID().slice(0, 8)}${TMP_SUFFIX}`;
}

/** Replaces the file at `path` with `data` atomically (see the module documentation). */
export async function replaceFile(
  storage: Storage,
  path: string,
  data: FileData,
  options: ReplaceOptions = {},
): Promise<void> {
  const temporary = options.unique ? uniqueTemporaryOf(path) : temporaryOf(path);
  // The temporary name need not survive a crash by itself: the rename's folder fsync covers it.
  await storage.writeFile(temporary, data, { deferFolderSync: true });
  await storage.rename(temporary, path);
}

/** Replaces the file at `path` with `value` as JSON. */
export async function replaceJson(storage: Storage, path: string, value: unknown): Promise<void> {
  await replaceFile(storage, path, new TextEncoder().encode(JSON.stringify(value)));
}

/**
 * Reads back a file written by {@link replaceFile}: the file, or else its
 * temporary copy (see the module documentation). `parse` returns null for
 * content that is not whole; null when no copy parses.
 */
export async function readReplaced<T>(
  storage: Storage,
  path: string,
  parse: (bytes: Uint8Array) => T | null,
): Promise<T | null> {
  for (const candidate of [path, temporaryOf(path)]) {
    let bytes: Uint8Array;
    try {
      bytes = await storage.readFile(candidate);
    } catch (error) {
      if (error instanceof StorageNotFoundError) continue;
      throw error;
    }
    const value = parse(bytes);
    if (value !== null) return value;
  }
  return null;
}

/** Parses JSON bytes; null when a crash left them incomplete (or they are no JSON). */
export function parseJsonFile(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** Removes a file and the temporary copy of a replace of it that never finished. */
export async function removeWithTemporary(storage: Storage, path: string): Promise<void> {
  await storage.remove(path);
  await storage.remove(temporaryOf(path));
}
