/**
 * The photometric points of each ZTF alert of an Arrow batch, as flat columns: its
 * `prv_candidates` then its `candidate`, in Fink's order (history first), read column by
 * column from the Arrow buffers.
 */
import type { Table, Vector } from "apache-arrow";
import * as arrow from "apache-arrow";
import type { PointColumns } from "./light_curve.ts";

/** A numeric column as float64, NaN for nulls, read from its buffers (much faster than get()). */
function floats(vector: Vector | null, n: number): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  if (!vector) return out;
  let at = 0;
  for (const data of vector.data) {
    const values = data.values as ArrayLike<number | bigint> | undefined;
    if (values === undefined || values instanceof BigInt64Array) {
      for (let i = 0; i < data.length; i++, at++) {
        if (data.getValid(i)) out[at] = Number(vector.get(at));
      }
      continue;
    }
    const numbers = values as ArrayLike<number>;
    const bitmap = data.nullCount === 0 ? null : data.nullBitmap;
    for (let i = 0; i < data.length; i++, at++) {
      // The validity bits are not sliced with the values: they start at the data's offset.
      const bit = data.offset + i;
      if (bitmap === null || (bitmap[bit >> 3] >> (bit & 7)) & 1) out[at] = numbers[i];
    }
  }
  return out;
}

/** The fields of `candidate` and of each `prv_candidates` record that the light curve reads. */
export const POINT_FIELDS: readonly string[] = [
  "jd",
  "fid",
  "magpsf",
  "sigmapsf",
  "distnr",
  "magnr",
  "sigmagnr",
  "isdiffpos",
];

const T = "t".charCodeAt(0);
const ONE = "1".charCodeAt(0);

/** 1 where isdiffpos is "t" or "1" (a positive difference), read from the bytes. */
function positives(vector: Vector | null, n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (!vector) return out;
  let at = 0;
  for (const data of vector.data) {
    const offsets = data.valueOffsets as Int32Array | undefined;
    const bytes = data.values as Uint8Array | undefined;
    for (let i = 0; i < data.length; i++, at++) {
      if (!data.getValid(i) || !offsets || !bytes) continue;
      const [start, end] = [offsets[i], offsets[i + 1]];
      out[at] = end - start === 1 && (bytes[start] === T || bytes[start] === ONE) ? 1 : 0;
    }
  }
  return out;
}

function columnsOf(struct: Vector | null, n: number): PointColumns {
  const child = (name: string) => struct?.getChild(name) ?? null;
  return {
    jd: floats(child("jd"), n),
    fid: floats(child("fid"), n),
    magpsf: floats(child("magpsf"), n),
    sigmapsf: floats(child("sigmapsf"), n),
    distnr: floats(child("distnr"), n),
    magnr: floats(child("magnr"), n),
    sigmagnr: floats(child("sigmagnr"), n),
    positive: positives(child("isdiffpos"), n),
  };
}

/** The points of every alert of a batch; alert `i`'s are rows `starts[i]` to `starts[i + 1] - 1`. */
export interface BatchPoints {
  points: PointColumns;
  starts: Int32Array;
}

/**
 * Points per alert of a ZTF batch (a `candidate` struct column, optionally a `prv_candidates`
 * list of structs). An alert without a candidate row gets only its history.
 */
export function alertPoints(table: Table, candidate: Vector): BatchPoints {
  const n = table.numRows;
  const history: { columns: PointColumns; from: number; to: number }[] = new Array(n);
  let total = 0;
  const prv = table.getChild("prv_candidates");
  if (prv && arrow.DataType.isList(prv.type)) {
    let row = 0;
    for (const data of prv.data) {
      const items = arrow.makeVector(data.children[0]);
      const columns = columnsOf(items, items.length);
      const offsets = data.valueOffsets;
      for (let i = 0; i < data.length; i++, row++) {
        if (!data.getValid(i)) continue;
        history[row] = { columns, from: offsets[i], to: offsets[i + 1] };
        total += offsets[i + 1] - offsets[i];
      }
    }
  }
  const own = columnsOf(candidate, n);
  const points = emptyColumns(total + n);
  const starts = new Int32Array(n + 1);
  let at = 0;
  for (let i = 0; i < n; i++) {
    starts[i] = at;
    const past = history[i];
    for (let k = past?.from ?? 0; k < (past?.to ?? 0); k++) {
      copyPoint(past.columns, k, points, at++);
    }
    if (candidate.isValid(i)) copyPoint(own, i, points, at++);
  }
  starts[n] = at;
  return { points, starts };
}

function emptyColumns(n: number): PointColumns {
  return {
    jd: new Float64Array(n),
    fid: new Float64Array(n),
    magpsf: new Float64Array(n),
    sigmapsf: new Float64Array(n),
    distnr: new Float64Array(n),
    magnr: new Float64Array(n),
    sigmagnr: new Float64Array(n),
    positive: new Uint8Array(n),
  };
}

function copyPoint(from: PointColumns, i: number, to: PointColumns, at: number): void {
  to.jd[at] = from.jd[i];
  to.fid[at] = from.fid[i];
  to.magpsf[at] = from.magpsf[i];
  to.sigmapsf[at] = from.sigmapsf[i];
  to.distnr[at] = from.distnr[i];
  to.magnr[at] = from.magnr[i];
  to.sigmagnr[at] = from.sigmagnr[i];
  to.positive[at] = from.positive[i];
}
