/**
 * The photometric points of each ZTF alert of an Arrow batch: its `prv_candidates` then its
 * `candidate`, in Fink's order (history first), read column by column.
 */
import type { Table, Vector } from "apache-arrow";
import * as arrow from "apache-arrow";
import type { Point } from "./light_curve.ts";

/** A struct's fields as flat arrays: numbers with NaN for null, isdiffpos as Fink reads it. */
interface Columns {
  jd: Float64Array;
  fid: Float64Array;
  magpsf: Float64Array;
  sigmapsf: Float64Array;
  distnr: Float64Array;
  magnr: Float64Array;
  sigmagnr: Float64Array;
  isdiffpos: (string | null)[];
}

/** A numeric column as float64, NaN for nulls, read from its buffers (much faster than get()). */
function floats(vector: Vector | null, n: number): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  if (!vector) return out;
  let at = 0;
  for (const data of vector.data) {
    const values = data.values as ArrayLike<number | bigint> | undefined;
    const plain = values !== undefined && !(values instanceof BigInt64Array);
    if (plain && data.nullCount === 0) {
      for (let i = 0; i < data.length; i++) out[at + i] = values[i] as number;
      at += data.length;
      continue;
    }
    for (let i = 0; i < data.length; i++, at++) {
      if (!data.getValid(i)) continue;
      out[at] = plain ? values[i] as number : Number(vector.get(at));
    }
  }
  return out;
}

const SIGNS: Record<number, string> = { 116: "t", 102: "f", 49: "1", 48: "0" };

/** isdiffpos values; the common one-letter ones are read from the bytes without decoding. */
function signs(vector: Vector | null, n: number): (string | null)[] {
  const out: (string | null)[] = new Array(n).fill(null);
  if (!vector) return out;
  let at = 0;
  for (const data of vector.data) {
    const offsets = data.valueOffsets as Int32Array | undefined;
    const bytes = data.values as Uint8Array | undefined;
    for (let i = 0; i < data.length; i++, at++) {
      if (!data.getValid(i)) continue;
      const one = offsets && bytes && offsets[i + 1] - offsets[i] === 1
        ? SIGNS[bytes[offsets[i]]]
        : undefined;
      out[at] = one ?? String(vector.get(at));
    }
  }
  return out;
}

function columnsOf(struct: Vector | null, n: number): Columns {
  const child = (name: string) => struct?.getChild(name) ?? null;
  return {
    jd: floats(child("jd"), n),
    fid: floats(child("fid"), n),
    magpsf: floats(child("magpsf"), n),
    sigmapsf: floats(child("sigmapsf"), n),
    distnr: floats(child("distnr"), n),
    magnr: floats(child("magnr"), n),
    sigmagnr: floats(child("sigmagnr"), n),
    isdiffpos: signs(child("isdiffpos"), n),
  };
}

const orNull = (x: number): number | null => Number.isNaN(x) ? null : x;

function point(c: Columns, i: number): Point {
  return {
    jd: c.jd[i],
    fid: Number.isNaN(c.fid[i]) ? 0 : c.fid[i],
    magpsf: orNull(c.magpsf[i]),
    sigmapsf: orNull(c.sigmapsf[i]),
    distnr: orNull(c.distnr[i]),
    magnr: orNull(c.magnr[i]),
    sigmagnr: orNull(c.sigmagnr[i]),
    isdiffpos: c.isdiffpos[i],
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
      const columns = columnsOf(items, items.length);
      const offsets = data.valueOffsets;
      for (let i = 0; i < data.length; i++, row++) {
        if (!data.getValid(i)) continue;
        for (let k = offsets[i]; k < offsets[i + 1]; k++) out[row].push(point(columns, k));
      }
    }
  }
  const columns = columnsOf(candidate, n);
  for (let i = 0; i < n; i++) {
    if (candidate.isValid(i)) out[i].push(point(columns, i));
  }
  return out;
}
