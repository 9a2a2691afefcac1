/**
 * A small reader for FITS binary tables (XTENSION = 'BINTABLE'): 2880-byte
 * blocks, 80-character header cards, TTYPEn/TFORMn column layout, big-endian
 * values, TSCALn/TZEROn scaling and TNULLn integer nulls. Variable-length
 * array columns (P/Q) and complex columns are listed but cannot be read.
 */

const BLOCK = 2880;
const CARD = 80;

/** One column of a binary table as described by its TTYPEn/TFORMn cards. */
export interface FitsColumn {
  /** TTYPEn, trimmed. */
  name: string;
  /** TFORMn type code: L X B I J K A E D C M P Q. */
  code: string;
  /** Repeat count from TFORMn. */
  repeat: number;
  /** Byte offset of the field inside a row. */
  offset: number;
  /** Bytes taken by the field in a row. */
  width: number;
  /** TSCALn (1 when absent). */
  scale: number;
  /** TZEROn (0 when absent). */
  zero: number;
  /** TNULLn for integer columns, when given. */
  nullValue?: number;
  /** TUNITn, trimmed, when given. */
  unit?: string;
}

/** Values of one column: numbers (NaN for nulls), 64-bit integers, strings or booleans. */
export type FitsValues = Float64Array | BigInt64Array | string[] | (boolean | null)[];

/** Options for {@link readFitsTable}. */
export interface FitsTableOptions {
  /** Which binary-table extension to read: its EXTNAME or its position among HDUs (0 = primary). Default: the first BINTABLE. */
  hdu?: string | number;
}

/** A binary table read from a FITS file. */
export interface FitsTable {
  /** EXTNAME of the extension, when given. */
  extname?: string;
  /** NAXIS2: number of rows. */
  numRows: number;
  /** NAXIS1: bytes per row. */
  rowBytes: number;
  /** Columns in file order. */
  columns: FitsColumn[];
  /** Header keywords of the extension (values parsed: string, number or boolean). */
  header: Map<string, string | number | boolean>;
  /**
   * Decodes one column by name (exact, then case-insensitive).
   *
   * @throws Error listing the available columns when the name is unknown
   */
  column(name: string): FitsValues;
}

const WIDTHS: Record<string, number> = {
  L: 1,
  B: 1,
  I: 2,
  J: 4,
  K: 8,
  A: 1,
  E: 4,
  D: 8,
  C: 8,
  M: 16,
  P: 8,
  Q: 16,
};

function parseValue(raw: string): string | number | boolean {
  const text = raw.trim();
  if (text.startsWith("'")) {
    let value = "";
    let i = 1;
    // A quote inside a FITS string is written twice.
    while (i < text.length) {
      const c = text[i];
      if (c === "'") {
        if (text[i + 1] === "'") {
          value += "'";
          i += 2;
          continue;
        }
        break;
      }
      value += c;
      i++;
    }
    return value.trimEnd();
  }
  const beforeComment = text.split("/")[0].trim();
  if (beforeComment === "T") return true;
  if (beforeComment === "F") return false;
  const n = Number(beforeComment.replace(/D/g, "E"));
  return Number.isNaN(n) ? beforeComment : n;
}

interface Header {
  cards: Map<string, string | number | boolean>;
  /** Offset of the first data byte. */
  dataStart: number;
}

function readHeader(bytes: Uint8Array, start: number): Header {
  const cards = new Map<string, string | number | boolean>();
  const decoder = new TextDecoder("latin1");
  let offset = start;
  while (offset + CARD <= bytes.length) {
    const card = decoder.decode(bytes.subarray(offset, offset + CARD));
    offset += CARD;
    const key = card.slice(0, 8).trimEnd();
    if (key === "END") {
      return { cards, dataStart: Math.ceil(offset / BLOCK) * BLOCK };
    }
    if (card.slice(8, 10) === "= " && key.length > 0) cards.set(key, parseValue(card.slice(10)));
  }
  throw new Error(
    `Expected a FITS header ending with an END card after byte ${start}, ` +
      `found none before the end of the file (${bytes.length} bytes); the file is truncated or not FITS`,
  );
}

function num(
  cards: Map<string, string | number | boolean>,
  key: string,
  fallback?: number,
): number {
  const v = cards.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`Expected FITS keyword ${key} to be a number, found ${JSON.stringify(v)}`);
  }
  return v;
}

function dataBytes(cards: Map<string, string | number | boolean>): number {
  const naxis = num(cards, "NAXIS", 0);
  if (naxis === 0) return 0;
  let n = 1;
  for (let i = 1; i <= naxis; i++) n *= num(cards, `NAXIS${i}`);
  const bitpix = Math.abs(num(cards, "BITPIX"));
  const gcount = num(cards, "GCOUNT", 1);
  const pcount = num(cards, "PCOUNT", 0);
  return (bitpix / 8) * gcount * (pcount + n);
}

function parseColumns(
  cards: Map<string, string | number | boolean>,
  rowBytes: number,
): FitsColumn[] {
  const fields = num(cards, "TFIELDS");
  const columns: FitsColumn[] = [];
  let offset = 0;
  for (let i = 1; i <= fields; i++) {
    const form = String(cards.get(`TFORM${i}`) ?? "").trim();
    const m = /^(\d*)([LXBIJKAEDCMPQ])/.exec(form);
    if (!m) {
      throw new Error(`Expected TFORM${i} like "18A" or "E", found ${JSON.stringify(form)}`);
    }
    const repeat = m[1] === "" ? 1 : Number(m[1]);
    const code = m[2];
    const width = code === "X"
      ? Math.ceil(repeat / 8)
      : code === "P" || code === "Q"
      ? WIDTHS[code]
      : WIDTHS[code] * repeat;
    const tnull = cards.get(`TNULL${i}`);
    const unit = cards.get(`TUNIT${i}`);
    columns.push({
      name: String(cards.get(`TTYPE${i}`) ?? `col${i}`).trim(),
      code,
      repeat,
      offset,
      width,
      scale: num(cards, `TSCAL${i}`, 1),
      zero: num(cards, `TZERO${i}`, 0),
      nullValue: typeof tnull === "number" ? tnull : undefined,
      unit: typeof unit === "string" ? unit.trim() : undefined,
    });
    offset += width;
  }
  if (offset !== rowBytes) {
    throw new Error(
      `Expected the TFORMn widths to add up to NAXIS1 = ${rowBytes} bytes, found ${offset}`,
    );
  }
  return columns;
}

function decodeColumn(
  bytes: Uint8Array,
  dataStart: number,
  rows: number,
  rowBytes: number,
  c: FitsColumn,
): FitsValues {
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, rows * rowBytes);
  if (c.code === "A") {
    const decoder = new TextDecoder("latin1");
    const out: string[] = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const at = dataStart + r * rowBytes + c.offset;
      let end = at + c.width;
      const nul = bytes.subarray(at, end).indexOf(0);
      if (nul >= 0) end = at + nul;
      out[r] = decoder.decode(bytes.subarray(at, end)).trimEnd();
    }
    return out;
  }
  if (c.code === "L") {
    const out: (boolean | null)[] = new Array(rows * c.repeat);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c.repeat; k++) {
        const b = view.getUint8(r * rowBytes + c.offset + k);
        out[r * c.repeat + k] = b === 84 ? true : b === 70 ? false : null;
      }
    }
    return out;
  }
  if (c.code === "K" && c.scale === 1 && c.zero === 0) {
    const out = new BigInt64Array(rows * c.repeat);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c.repeat; k++) {
        out[r * c.repeat + k] = view.getBigInt64(r * rowBytes + c.offset + k * 8);
      }
    }
    return out;
  }
  const size = WIDTHS[c.code];
  if (!"BIJKED".includes(c.code)) {
    throw new Error(
      `Column ${c.name} has TFORM code ${c.code}, which this reader cannot decode; ` +
        `read numeric (B I J K E D), text (A) or logical (L) columns`,
    );
  }
  const out = new Float64Array(rows * c.repeat);
  const integer = "BIJK".includes(c.code);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < c.repeat; k++) {
      const at = r * rowBytes + c.offset + k * size;
      let v: number;
      switch (c.code) {
        case "B":
          v = view.getUint8(at);
          break;
        case "I":
          v = view.getInt16(at);
          break;
        case "J":
          v = view.getInt32(at);
          break;
        case "K":
          v = Number(view.getBigInt64(at));
          break;
        case "E":
          v = view.getFloat32(at);
          break;
        default:
          v = view.getFloat64(at);
      }
      out[r * c.repeat + k] = integer && c.nullValue !== undefined && v === c.nullValue
        ? NaN
        : v * c.scale + c.zero;
    }
  }
  return out;
}

/**
 * Reads a binary-table extension from the bytes of a FITS file.
 *
 * @throws Error when the file is not FITS, is truncated, or has no matching BINTABLE
 */
export function readFitsTable(bytes: Uint8Array, options: FitsTableOptions = {}): FitsTable {
  const magic = new TextDecoder("latin1").decode(bytes.subarray(0, 9));
  if (magic !== "SIMPLE  =") {
    throw new Error(
      `Expected a FITS file starting with "SIMPLE  =", found ${JSON.stringify(magic)}`,
    );
  }
  let offset = 0;
  let position = 0;
  const seen: string[] = [];
  while (offset < bytes.length) {
    const header = readHeader(bytes, offset);
    const cards = header.cards;
    const size = dataBytes(cards);
    const next = header.dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const xtension = cards.get("XTENSION");
    const extname = typeof cards.get("EXTNAME") === "string"
      ? String(cards.get("EXTNAME"))
      : undefined;
    seen.push(`${position}:${xtension ?? "PRIMARY"}${extname ? `(${extname})` : ""}`);
    const wanted = options.hdu === undefined
      ? xtension === "BINTABLE"
      : typeof options.hdu === "number"
      ? options.hdu === position
      : extname === options.hdu;
    if (wanted) {
      if (xtension !== "BINTABLE") {
        throw new Error(
          `Expected HDU ${options.hdu} to be a BINTABLE, found ${xtension ?? "PRIMARY"}`,
        );
      }
      const rowBytes = num(cards, "NAXIS1");
      const numRows = num(cards, "NAXIS2");
      if (header.dataStart + rowBytes * numRows > bytes.length) {
        throw new Error(
          `Expected ${rowBytes * numRows} bytes of table data at byte ${header.dataStart}, ` +
            `found ${bytes.length - header.dataStart}; the file is truncated`,
        );
      }
      const columns = parseColumns(cards, rowBytes);
      const dataStart = header.dataStart;
      return {
        extname,
        numRows,
        rowBytes,
        columns,
        header: cards,
        column(name: string): FitsValues {
          const c = columns.find((col) => col.name === name) ??
            columns.find((col) => col.name.toLowerCase() === name.toLowerCase());
          if (!c) {
            throw new Error(
              `Expected a column named ${name}, found ${columns.map((col) => col.name).join(", ")}`,
            );
          }
          return decodeColumn(bytes, dataStart, numRows, rowBytes, c);
        },
      };
    }
    offset = next;
    position++;
  }
  throw new Error(
    `Expected a BINTABLE extension${
      options.hdu === undefined ? "" : ` matching ${options.hdu}`
    }, ` +
      `found HDUs ${seen.join(", ")}`,
  );
}
