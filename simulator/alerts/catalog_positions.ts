/**
 * Reads source positions (ra/dec columns, degrees) from a Parquet catalog such as
 * fink-science's gcvs.parquet, to seat some synthetic variable stars on real sources.
 */
import { tableFromIPC } from "apache-arrow";
import { readParquet } from "parquet-wasm";
import type { SkyPosition } from "./sky.ts";

function column(names: string[], wanted: string, path: string): string {
  const found = names.find((name) => name.toLowerCase() === wanted);
  if (!found) {
    throw new Error(
      `Catalog ${path} needs a "${wanted}" column in degrees; found columns ${names.join(", ")}`,
    );
  }
  return found;
}

/** Every valid (finite, in range) position of the catalog at `path`. */
export async function readCatalogPositions(path: string): Promise<SkyPosition[]> {
  const table = tableFromIPC(readParquet(await Deno.readFile(path)).intoIPCStream());
  const names = table.schema.fields.map((field) => field.name);
  const ras = table.getChild(column(names, "ra", path))!;
  const decs = table.getChild(column(names, "dec", path))!;
  const positions: SkyPosition[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const ra = Number(ras.get(i));
    const dec = Number(decs.get(i));
    if (Number.isFinite(ra) && Number.isFinite(dec) && Math.abs(dec) <= 90) {
      positions.push({ ra: ((ra % 360) + 360) % 360, dec });
    }
  }
  return positions;
}
