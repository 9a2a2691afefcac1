/**
 * Shared pieces of the group coordinator's interop tests with real clients:
 * real ZTF alert files (one file = one message, read in place) and a bounded
 * wait for conditions that have no event of their own.
 */
import { Buffer } from "node:buffer";
import { join, relative } from "node:path";
import { sharedData } from "../../shared_data.ts";

/** One alert file: a key naming it and its bytes. */
export interface Alert {
  key: string;
  bytes: Buffer;
}

/** The first `count` alert files of `ztf/alerts` (recursively, sorted by path). */
export function readAlerts(count: number): Alert[] {
  const root = sharedData("ztf", "alerts");
  const paths: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) walk(path);
      else if (e.isFile && e.name.endsWith(".avro")) paths.push(path);
    }
  };
  walk(root);
  paths.sort();
  if (paths.length < count) {
    throw new Error(`Expected at least ${count} alert files under ${root}, found ${paths.length}`);
  }
  return paths.slice(0, count).map((path) => ({
    key: relative(root, path),
    bytes: Buffer.from(Deno.readFileSync(path)),
  }));
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** How long to wait before failing (default 30 s). */
  timeoutMs?: number;
}
