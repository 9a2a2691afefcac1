/**
 * Where the real public alerts, schemas and catalogs live: `../shared/data`
 * beside the checkout, or FINK_SHARED_DATA when set. Tests read them in place.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the shared data folder. */
export const SHARED_DATA: string = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

let present = false;

/**
 * Absolute path of a file or folder inside the shared data folder; throws a
 * one-line error naming the folder when the shared data is not there.
 */
export function sharedData(...parts: string[]): string {
  if (!present) {
    try {
      present = Deno.statSync(SHARED_DATA).isDirectory;
    } catch {
      // Reported below.
    }
    if (!present) {
      throw new Error(
        `The tests read real alerts from ${SHARED_DATA}, which is missing: put the shared data ` +
          "folder at ../shared/data beside the checkout, or set FINK_SHARED_DATA to it",
      );
    }
  }
  return join(SHARED_DATA, ...parts);
}
