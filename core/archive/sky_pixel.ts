/**
 * The HEALPix index written with every alert: a column `healpix_nest_10`
 * holding the NESTED pixel (order 10, about 3.4′ wide) of the alert's
 * position, so a cone search reads only the rows of the pixels the cone
 * touches. Being a column of the archived file itself, it is committed,
 * replayed and compacted with the alert, never apart from it.
 */
import * as arrow from "apache-arrow";
import { ang2pix_nest, order2nside } from "@hscmap/healpix";

/** The HEALPix order of the pixel column. */
export const SKY_PIXEL_ORDER = 10;
/** The pixel column's name. */
export const SKY_PIXEL_COLUMN = `healpix_nest_${SKY_PIXEL_ORDER}`;

/** Where an alert's position is, per survey: a struct column and its ra/dec fields (degrees). */
const POSITIONS: readonly { struct: string; ra: string; dec: string }[] = [
  { struct: "candidate", ra: "ra", dec: "dec" },
  { struct: "diaSource", ra: "ra", dec: "dec" },
];

const DEG = Math.PI / 180;

/** The NESTED pixel of a position at `order` (default {@link SKY_PIXEL_ORDER}). */
export function skyPixel(raDeg: number, decDeg: number, order = SKY_PIXEL_ORDER): number {
  const theta = (90 - decDeg) * DEG;
  const phi = (((raDeg % 360) + 360) % 360) * DEG;
  return ang2pix_nest(order2nside(order), theta, phi);
}

/**
 * The table with its pixel column appended (null where the position is
 * missing); unchanged when the schema has no known position.
 */
export function withSkyPixel(table: arrow.Table): arrow.Table {
  if (table.schema.fields.some((f) => f.name === SKY_PIXEL_COLUMN)) return table;
  for (const { struct, ra, dec } of POSITIONS) {
    const parent = table.getChild(struct);
    const raColumn = parent?.getChild(ra);
    const decColumn = parent?.getChild(dec);
    if (!raColumn || !decColumn) continue;
    const pixels = new Array<number | null>(table.numRows);
    for (let i = 0; i < table.numRows; i++) {
      const r = raColumn.get(i);
      const d = decColumn.get(i);
      pixels[i] = parent!.isValid(i) && Number.isFinite(r) && Number.isFinite(d)
        ? skyPixel(r, d)
        : null;
    }
    const column = arrow.vectorFromArray(pixels, new arrow.Int32());
    const assigned = table.assign(new arrow.Table({ [SKY_PIXEL_COLUMN]: column }));
    return new arrow.Table(
      new arrow.Schema(assigned.schema.fields, table.schema.metadata),
      assigned.batches,
    );
  }
  return table;
}
