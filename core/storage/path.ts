/**
 * Validation of storage-relative paths. Every backend accepts the same names,
 * so an archive that works on local disk also works on HDFS.
 */
import { StorageError } from "./errors.ts";

const FORBIDDEN = /[\\:\0]/;

/**
 * Returns the canonical form of a storage-relative path: `/`-separated segments,
 * no leading or trailing `/`, `""` for the storage root. Rejects `.` and `..`
 * segments, empty segments (`a//b`), and `\`, `:` or NUL characters (`:` is
 * illegal in HDFS names, `\` is a separator on Windows).
 */
export function normalizePath(path: string, op: string): string {
  if (typeof path !== "string") {
    throw new StorageError("invalid", `Expected a string path for ${op}, found ${typeof path}`, {
      op,
      path: String(path),
    });
  }
  const trimmed = path.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "") return "";
  const segments = trimmed.split("/");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new StorageError(
        "invalid",
        `Invalid storage path "${path}" for ${op}: expected names separated by single "/", found segment "${segment}"`,
        { op, path },
      );
    }
    if (FORBIDDEN.test(segment)) {
      throw new StorageError(
        "invalid",
        `Invalid storage path "${path}" for ${op}: names must not contain "\\", ":" or NUL characters`,
        { op, path },
      );
    }
  }
  return segments.join("/");
}

/** Like {@link normalizePath} but refuses the storage root, for operations on a single file. */
export function normalizeFilePath(path: string, op: string): string {
  const normalized = normalizePath(path, op);
  if (normalized === "") {
    throw new StorageError(
      "invalid",
      `Invalid storage path "${path}" for ${op}: expected a path below the storage root, found the root itself`,
      { op, path },
    );
  }
  return normalized;
}

/** The last segment of a normalized path (`""` for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Joins a normalized directory path and a child name. */
export function childPath(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** The folder holding `path` (`""` for an entry of the root); `path` normalized. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}
