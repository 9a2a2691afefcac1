/**
 * The photometric points of each ZTF alert of an Arrow batch: its `prv_candidates` then its
 * `candidate`, in Fink's order (history first), read column by column.
 */
import type { Table, Vector } from "apache-arrow";
import * as arrow from "apache-arrow";
import type { Point } from "./light_curve.ts";

const FIELDS = ["jd", "fid", "magpsf", "sigmapsf", "distnr", "magnr", "sigmagnr", "isdiffpos"];

interface Columns {
  [field: string]: Vector | null;
}

function columnsOf(struct: Vector | null): Columns {
  const out: Columns = {};
  for (const field of FIELDS) out[field] = struct?.getChild(field) ?? null;
  return out;
}

function number(vector: Vector | null, i: number): number | null {
  const v = vector?.get(i);
  return v === null || v === undefined ? null : Number(v);
}

function point(columns: Columns, i: number): Point {
  const isdiffpos = columns.isdiffpos?.get(i);
  return {
    jd: number(columns.jd, i) ?? NaN,
    fid: number(columns.fid, i) ?? 0,
    magpsf: number(columns.magpsf, i),
    sigmapsf: number(columns.sigmapsf, i),
    distnr: number(columns.distnr, i),
    magnr: number(columns.magnr, i),
    sigmagnr: number(columns.sigmagnr, i),
    isdiffpos: isdiffpos === null || isdiffpos === undefined ? null : String(isdiffpos),
  };
}

/**
 * Points per alert of a ZTF batch (a `candidate` struct column, optionally a `prv_candidates`
 * list of structs). An alert without a candidate row gets no point.
 */
export function alertPoints(table: Table, candidate: Vector): Point[][] {
  const n = table.numRows;
  const out: Point[][] = Array.from({ length: n }, () => []);
  const prv = table.getChild("prv_candidates");
  if (prv && arrow.DataType.isList(prv.type)) {
    let row = 0;
    for (const data of prv.data) {
      const items = arrow.makeVector(data.children[0]);
      const columns = columnsOf(items);
      const offsets = data.valueOffsets;
      for (let i = 0; i < data.length; i++, row++) {
        if (!data.getValid(i)) continue;
        for (let k = offsets[i]; k < offsets[i + 1]; k++) out[row].push(point(columns, k));
      }
    }
  }
  const columns = columnsOf(candidate);
  for (let i = 0; i < n; i++) {
    if (candidate.isValid(i)) out[i].push(point(columns, i));
  }
  return out;
}
