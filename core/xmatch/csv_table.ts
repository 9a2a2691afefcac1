/**
 * A CSV/TSV reader for catalog files: quoted fields ("" escapes a quote),
 * whitespace around fields and header names trimmed (3HSP writes
 * `id , 3HSP Source name , …` and `1 , "3HSPJ…" , …`), blank lines skipped.
 */

/** Options for {@link readCsvTable}. */
export interface CsvTableOptions {
  /** Field separator; default ",". */
  delimiter?: string;
  /** Column names when the file has no header line; the first line is then data. */
  columns?: string[];
}

/** A text table: column names and, per column, the trimmed cell texts. */
export interface CsvTable {
  /** Column names in file order. */
  names: string[];
  /** Number of data rows. */
  numRows: number;
  /**
   * Cells of one column by name (exact, then trimmed and case-insensitive).
   *
   * @throws Error listing the available columns when the name is unknown
   */
  column(name: string): string[];
}

function splitLine(line: string, delimiter: string, lineNumber: number): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (true) {
    while (i < n && (line[i] === " " || line[i] === "\t") && line[i] !== delimiter) i++;
    let cell = "";
    if (line[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        cell += line[i++];
      }
      if (!closed) {
        throw new Error(`Expected a closing quote on line ${lineNumber}, found end of line`);
      }
      while (i < n && line[i] !== delimiter) i++;
    } else {
      const end = line.indexOf(delimiter, i);
      cell = (end < 0 ? line.slice(i) : line.slice(i, end)).trim();
      i = end < 0 ? n : end;
    }
    out.push(cell);
    if (i >= n) break;
    i += delimiter.length;
  }
  return out;
}

/**
 * Parses CSV or TSV text into columns.
 *
 * @throws Error when a row has more cells than the header or a quote is not closed
 */
export function readCsvTable(text: string, options: CsvTableOptions = {}): CsvTable {
  const delimiter = options.delimiter ?? ",";
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first].trim() === "") first++;
  const names = options.columns ??
    (first < lines.length ? splitLine(lines[first++], delimiter, first).map((h) => h.trim()) : []);
  const cells: string[][] = names.map(() => []);
  let numRows = 0;
  for (let l = first; l < lines.length; l++) {
    const line = lines[l];
    if (line.trim() === "") continue;
    const row = splitLine(line, delimiter, l + 1);
    if (row.length > names.length) {
      throw new Error(
        `Expected at most ${names.length} fields on line ${l + 1}, found ${row.length}`,
      );
    }
    for (let c = 0; c < names.length; c++) cells[c].push(row[c] ?? "");
    numRows++;
  }
  return {
    names,
    numRows,
    column(name: string): string[] {
      let c = names.indexOf(name);
      if (c < 0) {
        const wanted = name.trim().toLowerCase();
        c = names.findIndex((n) => n.toLowerCase() === wanted);
      }
      if (c < 0) {
        throw new Error(`Expected a column named ${name}, found ${names.join(", ")}`);
      }
      return cells[c];
    },
  };
}
