/**
 * Real ZTF alert packets for the broker tests: the bytes of the shared Avro
 * files, one file = one Kafka message, read in place.
 */
import { Buffer } from "node:buffer";
import { sharedData } from "../../shared_data.ts";

/** One alert file: its path and bytes. */
export interface AlertFile {
  path: string;
  bytes: Buffer;
}

/** The first `count` alert files (sorted by path) of a folder of `ztf/alerts`. */
export function readAlerts(folder: string, count: number): AlertFile[] {
  const dir = sharedData("ztf", "alerts", folder);
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".avro"))
    .map((e) => e.name).sort().slice(0, count);
  if (names.length < count) {
    throw new Error(`Expected ${count} alert files in ${dir}, found ${names.length}`);
  }
  return names.map((n) => ({
    path: `${dir}/${n}`,
    bytes: Buffer.from(Deno.readFileSync(`${dir}/${n}`)),
  }));
}

/** True when two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
