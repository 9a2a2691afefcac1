/**
 * Growable column buffers: plain typed arrays, offsets and a byte-per-row
 * validity array (packed into a bitmap only once, at the end), assembled with
 * `arrow.makeData`. No per-value generic Arrow builders.
 */
import * as arrow from "apache-arrow";
import type { ColumnKind, ColumnPlan } from "./schema.ts";

const INITIAL_ROWS = 64;
const INITIAL_BYTES = 1024;
const encoder = new TextEncoder();

/** The buffers of one column; fields used depend on `kind`. */
export class ColumnBuilder {
  /** Storage kind. */
  readonly kind: ColumnKind;
  /** Arrow type of the finished column. */
  readonly type: arrow.DataType;
  /** Rows appended. */
  len = 0;
  /** Row capacity. */
  cap = INITIAL_ROWS;
  /** 1 = valid, 0 = null, one byte per row; null when the column cannot be null. */
  valid: Uint8Array | null;
  /** Values: Int32Array (i32, and i64 as low/high word pairs), Float32Array, Float64Array or Uint8Array (bool). */
  values: Int32Array | Float32Array | Float64Array | Uint8Array;
  /** Offsets for utf8/binary/json/list/map (length rows + 1). */
  offsets: Int32Array;
  /** Bytes of utf8/binary/json/fixed values. */
  data: Uint8Array;
  /** Bytes used in `data`. */
  dataLen = 0;
  /** Binary values are kept as views on the message bytes and copied once, in {@link finish}. */
  sources: Uint8Array[] = [];
  /** Start of each binary value in its source. */
  starts: Int32Array = EMPTY_I32;
  /** Fixed value size in bytes. */
  readonly size: number;
  /** Struct children, or the one list item builder. */
  readonly children: ColumnBuilder[];

  /** Allocates small buffers for `plan`; they double as rows are appended. */
  constructor(plan: ColumnPlan) {
    this.kind = plan.kind;
    this.type = plan.arrowType;
    this.size = plan.size;
    this.valid = plan.nullable ? new Uint8Array(this.cap) : null;
    this.values = allocValues(plan.kind, this.cap);
    this.offsets = usesOffsets(plan.kind) ? new Int32Array(this.cap + 1) : EMPTY_I32;
    this.data = usesData(plan.kind) ? new Uint8Array(INITIAL_BYTES) : EMPTY_U8;
    if (plan.kind === "binary") this.starts = new Int32Array(this.cap);
    this.children = plan.kind === "struct"
      ? plan.children.map((c) => new ColumnBuilder(c))
      : plan.kind === "list" || plan.kind === "map"
      ? [new ColumnBuilder(plan.item!)]
      : [];
  }

  /** Doubles row capacity; call when `len === cap`. */
  grow(): void {
    const cap = this.cap * 2;
    if (this.valid) this.valid = resize(this.valid, cap);
    if (this.kind === "i64") this.values = resize(this.values as Int32Array, cap * 2);
    else if (this.values.length > 0) this.values = resize(this.values as Uint8Array, cap);
    if (this.offsets.length > 0) this.offsets = resize(this.offsets, cap + 1);
    if (this.starts.length > 0) this.starts = resize(this.starts, cap);
    this.cap = cap;
  }

  /** Makes room for `n` more data bytes. */
  reserve(n: number): void {
    const need = this.dataLen + n;
    if (need <= this.data.length) return;
    if (need > MAX_DATA_BYTES) throw tooLarge();
    let size = Math.max(this.data.length * 2, INITIAL_BYTES);
    while (size < need) size *= 2;
    this.data = resize(this.data, size);
  }

  /** Appends `len` bytes of `src` from `start` as one utf8/binary value (valid). */
  pushBytes(src: Uint8Array, start: number, len: number): void {
    if (this.len === this.cap) this.grow();
    if (this.kind === "binary") {
      // Cutouts are most of the bytes: a view now and one exact copy later
      // beats growing and re-copying a buffer.
      this.sources[this.len] = src;
      this.starts[this.len] = start;
      this.dataLen += len;
      if (this.dataLen > MAX_DATA_BYTES) throw tooLarge();
      if (this.valid) this.valid[this.len] = 1;
      this.offsets[++this.len] = this.dataLen;
      return;
    }
    this.reserve(len);
    const data = this.data;
    let at = this.dataLen;
    if (len < 24) {
      for (let i = start, end = start + len; i < end; i++) data[at++] = src[i];
    } else {
      data.set(src.subarray(start, start + len), at);
      at += len;
    }
    this.dataLen = at;
    if (this.valid) this.valid[this.len] = 1;
    this.offsets[++this.len] = at;
  }

  /** Appends `size` bytes of `src` from `start` as one fixed value (valid). */
  pushFixed(src: Uint8Array, start: number): void {
    if (this.len === this.cap) this.grow();
    this.reserve(this.size);
    this.data.set(src.subarray(start, start + this.size), this.dataLen);
    this.dataLen += this.size;
    if (this.valid) this.valid[this.len] = 1;
    this.len++;
  }

  /** Appends a string as UTF-8 (valid). */
  pushString(value: string): void {
    const bytes = encoder.encode(value);
    this.pushBytes(bytes, 0, bytes.length);
  }

  /** Appends an Int32 (valid). */
  pushI32(value: number): void {
    if (this.len === this.cap) this.grow();
    (this.values as Int32Array)[this.len] = value;
    if (this.valid) this.valid[this.len] = 1;
    this.len++;
  }

  /** Appends an Int64 given as a JS number (exact below 2^53). */
  pushI64Number(value: number): void {
    if (this.len === this.cap) this.grow();
    const words = this.values as Int32Array;
    words[2 * this.len] = value % 4294967296;
    words[2 * this.len + 1] = Math.floor(value / 4294967296);
    if (this.valid) this.valid[this.len] = 1;
    this.len++;
  }

  /** Appends an Int64 given as a bigint. */
  pushI64(value: bigint): void {
    if (this.len === this.cap) this.grow();
    const words = this.values as Int32Array;
    words[2 * this.len] = Number(BigInt.asIntN(32, value));
    words[2 * this.len + 1] = Number(BigInt.asIntN(32, value >> 32n));
    if (this.valid) this.valid[this.len] = 1;
    this.len++;
  }

  /** Closes the current list or map row; items were appended to `children[0]` (valid). */
  endList(): void {
    if (this.len === this.cap) this.grow();
    if (this.valid) this.valid[this.len] = 1;
    this.offsets[++this.len] = this.children[0].len;
  }

  /** Closes the current struct row; children were appended already (valid). */
  endStruct(): void {
    if (this.len === this.cap) this.grow();
    if (this.valid) this.valid[this.len] = 1;
    this.len++;
  }

  /**
   * Appends a placeholder row: null where the column allows it, else a zero
   * value (e.g. the children of a null struct, which Arrow still needs).
   */
  pushNull(): void {
    if (this.len === this.cap) this.grow();
    if (this.valid) this.valid[this.len] = 0;
    switch (this.kind) {
      case "i64":
        (this.values as Int32Array)[2 * this.len] = 0;
        (this.values as Int32Array)[2 * this.len + 1] = 0;
        break;
      case "i32":
      case "f32":
      case "f64":
      case "bool":
        this.values[this.len] = 0;
        break;
      case "fixed":
        this.reserve(this.size);
        this.data.fill(0, this.dataLen, this.dataLen + this.size);
        this.dataLen += this.size;
        break;
      case "struct":
        for (const child of this.children) child.pushNull();
        break;
      case "list":
      case "map":
        this.offsets[this.len + 1] = this.children[0].len;
        break;
      case "utf8":
      case "binary":
      case "enum":
      case "json":
        this.offsets[this.len + 1] = this.dataLen;
        break;
    }
    this.len++;
  }

  #gather(length: number): Uint8Array {
    const offsets = this.offsets;
    const out = new Uint8Array(offsets[length]);
    for (let i = 0; i < length; i++) {
      const len = offsets[i + 1] - offsets[i];
      if (len > 0) {
        out.set(this.sources[i].subarray(this.starts[i], this.starts[i] + len), offsets[i]);
      }
    }
    return out;
  }

  /** Appends every builder of this subtree to `out` (depth first), for snapshots. */
  collect(out: ColumnBuilder[]): ColumnBuilder[] {
    out.push(this);
    for (const child of this.children) child.collect(out);
    return out;
  }

  /** The finished Arrow data (views on the buffers, no copy). */
  finish(): arrow.Data {
    const length = this.len;
    const { nullBitmap, nullCount } = this.valid
      ? packValidity(this.valid, length)
      : { nullBitmap: undefined, nullCount: 0 };
    const type = this.type;
    const base = { type, length, nullCount, nullBitmap } as any;
    switch (this.kind) {
      case "null":
        return arrow.makeData({ type: type as arrow.Null, length, nullCount: length });
      case "bool":
        return arrow.makeData({ ...base, data: packBits(this.values as Uint8Array, length).bits });
      case "i32":
      case "f32":
      case "f64":
        return arrow.makeData({ ...base, data: this.values.subarray(0, length) });
      case "i64":
        return arrow.makeData({
          ...base,
          data: new BigInt64Array(this.values.buffer, 0, length),
        });
      case "fixed":
        return arrow.makeData({ ...base, data: this.data.subarray(0, this.dataLen) });
      case "utf8":
      case "enum":
      case "json":
        return arrow.makeData({
          ...base,
          valueOffsets: this.offsets.subarray(0, length + 1),
          data: this.data.subarray(0, this.dataLen),
        });
      case "binary":
        return arrow.makeData({
          ...base,
          valueOffsets: this.offsets.subarray(0, length + 1),
          data: this.#gather(length),
        });
      case "list":
      case "map":
        return arrow.makeData({
          ...base,
          valueOffsets: this.offsets.subarray(0, length + 1),
          child: this.children[0].finish(),
        });
      case "struct":
        return arrow.makeData({ ...base, children: this.children.map((c) => c.finish()) });
    }
  }
}

const EMPTY_I32 = new Int32Array(0);
/** Arrow Utf8/Binary offsets are int32. */
const MAX_DATA_BYTES = 0x7fffffff;

function tooLarge(): Error {
  return new Error(
    "A string or binary column exceeds 2 GiB in one batch; encode smaller batches",
  );
}
const EMPTY_U8 = new Uint8Array(0);

function allocValues(kind: ColumnKind, cap: number) {
  switch (kind) {
    case "i32":
      return new Int32Array(cap);
    case "i64":
      return new Int32Array(cap * 2);
    case "f32":
      return new Float32Array(cap);
    case "f64":
      return new Float64Array(cap);
    case "bool":
      return new Uint8Array(cap);
    default:
      return EMPTY_U8;
  }
}

function usesOffsets(kind: ColumnKind): boolean {
  return kind === "utf8" || kind === "binary" || kind === "enum" || kind === "json" ||
    kind === "list" || kind === "map";
}

function usesData(kind: ColumnKind): boolean {
  return kind === "utf8" || kind === "enum" || kind === "json" || kind === "fixed";
}

function resize<T extends Uint8Array | Int32Array | Float32Array | Float64Array>(
  array: T,
  length: number,
): T {
  const out = new (array.constructor as new (n: number) => T)(length);
  out.set(array.subarray(0, Math.min(array.length, length)));
  return out;
}

function packBits(bytes: Uint8Array, length: number): { bits: Uint8Array; zeros: number } {
  const bits = new Uint8Array((length + 7) >> 3);
  let zeros = 0;
  for (let i = 0; i < length; i++) {
    if (bytes[i]) bits[i >> 3] |= 1 << (i & 7);
    else zeros++;
  }
  return { bits, zeros };
}

function packValidity(valid: Uint8Array, length: number) {
  const { bits, zeros } = packBits(valid, length);
  return zeros === 0
    ? { nullBitmap: undefined, nullCount: 0 }
    : { nullBitmap: bits, nullCount: zeros };
}
