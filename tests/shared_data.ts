/**
 * Where the real public alerts, schemas and catalogs live: `../shared/data`
 * beside the checkout, or FINK_SHARED_DATA when set. Tests read them in place.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the shared data folder. */
export const SHARED_DATA: string = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

/** Absolute path of a file or folder inside the shared data folder. */
export function sharedData(...parts: string[]): string {
  return join(SHARED_DATA, ...parts);
}
