/**
 * An append-only file of JSON lines with a size bound: when it grows past
 * `maxBytes` it is rewritten (atomic replace, core/storage/atomic_replace.ts: a crash leaves
 * either version) keeping the newest lines, about half the bound. A torn or
 * corrupt line (crash mid-append, hand edit) is skipped on reading.
 */
import { basename, dirname } from "node:path";
import { replaceFile } from "../storage/atomic_replace.ts";
import { LocalStorage } from "../storage/local.ts";

/** Options of {@link JsonLinesFile.open}. */
export interface JsonLinesOptions {
  /** Size past which the file is trimmed to about half. */
  maxBytes: number;
}

/** A bounded JSON-lines file; appends are serialized. */
export class JsonLinesFile {
  #path: string;
  #maxBytes: number;
  #size: number;
  #queue: Promise<void> = Promise.resolve();
  #failure: Error | null = null;

  private constructor(path: string, maxBytes: number, size: number) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#size = size;
  }

  /** Opens (creating its folder) and reads every valid record of the file. */
  static async open(
    path: string,
    options: JsonLinesOptions,
  ): Promise<{ file: JsonLinesFile; records: unknown[] }> {
    await Deno.mkdir(dirname(path), { recursive: true });
    const text = await readText(path);
    const { records, lines } = parseLines(text);
    const clean = lines.join("");
    if (clean !== text) await replace(path, clean);
    return { file: new JsonLinesFile(path, options.maxBytes, byteLength(clean)), records };
  }

  /** Where the file is. */
  get path(): string {
    return this.#path;
  }

  /** The error of the last failed write, if any (writes go on being attempted). */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Appends records; resolves once written (or failed: see {@link failure}). */
  append(records: unknown[]): Promise<void> {
    if (records.length === 0) return this.#queue;
    const text = records.map((r) => JSON.stringify(r) + "\n").join("");
    this.#queue = this.#queue.then(async () => {
      try {
        await Deno.writeTextFile(this.#path, text, { append: true });
        this.#size += byteLength(text);
        if (this.#size > this.#maxBytes) await this.#trim();
        this.#failure = null;
      } catch (e) {
        this.#failure = e as Error;
      }
    });
    return this.#queue;
  }

  /** Resolves when every append so far is written. */
  flushed(): Promise<void> {
    return this.#queue;
  }

  async #trim(): Promise<void> {
    const { lines } = parseLines(await readText(this.#path));
    const kept: string[] = [];
    let size = 0;
    for (let i = lines.length - 1; i >= 0; i--) {
      const n = byteLength(lines[i]);
      if (size + n > this.#maxBytes / 2) break;
      kept.push(lines[i]);
      size += n;
    }
    const text = kept.reverse().join("");
    await replace(this.#path, text);
    this.#size = size;
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/** The valid lines (each with its newline) and their parsed records. */
function parseLines(text: string): { records: unknown[]; lines: string[] } {
  const records: unknown[] = [];
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      records.push(JSON.parse(line));
      lines.push(line + "\n");
    } catch {
      // A torn or corrupt line: dropped, the rest of the history stays usable.
    }
  }
  return { records, lines };
}

async function replace(path: string, text: string): Promise<void> {
  await replaceFile(
    new LocalStorage(dirname(path)),
    basename(path),
    new TextEncoder().encode(text),
  );
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}
