/**
 * Class counts per minute, kept across restarts. The classifier plugin reports
 * cumulative counts since it started; each sample adds the increase since the
 * previous one to the current minute (a count that went down means the plugin
 * restarted, so its whole value is new). Every finished minute with alerts is
 * appended to `classes.jsonl` in the process state folder.
 */
import { join } from "node:path";
import { JsonLinesFile } from "./json_lines_file.ts";

/** Alerts per class over one interval. */
export interface ClassPoint {
  /** Start of the interval, epoch ms. */
  t: number;
  counts: Record<string, number>;
}

/** Options of {@link ClassHistory.open}. */
export interface ClassHistoryOptions {
  /** Folder of the history file (the process state folder). */
  dir: string;
  /** Persisted minutes older than this are dropped. Default 7 days. */
  retainMs?: number;
  /** Bound of the history file. Default 8 MB. */
  maxFileBytes?: number;
}

/** The file name of the class history inside the state folder. */
export const CLASS_HISTORY_FILE = "classes.jsonl";

const MINUTE_MS = 60_000;

/** Per-minute class counts: finished minutes persisted, the current one in memory. */
export class ClassHistory {
  #file: JsonLinesFile;
  #retainMs: number;
  #minutes: ClassPoint[];
  #open: ClassPoint | null = null;
  #previous: Record<string, number> = {};

  private constructor(file: JsonLinesFile, minutes: ClassPoint[], retainMs: number) {
    this.#file = file;
    this.#minutes = minutes.sort((a, b) => a.t - b.t);
    this.#retainMs = retainMs;
  }

  /** Opens the class history of a state folder, reading what earlier runs persisted. */
  static async open(options: ClassHistoryOptions): Promise<ClassHistory> {
    const { file, records } = await JsonLinesFile.open(join(options.dir, CLASS_HISTORY_FILE), {
      maxBytes: options.maxFileBytes ?? 8 * 1024 * 1024,
    });
    const minutes = records.map(pointOf).filter((p): p is ClassPoint => p !== null);
    return new ClassHistory(file, minutes, options.retainMs ?? 7 * 86_400_000);
  }

  /** The history file. */
  get file(): JsonLinesFile {
    return this.#file;
  }

  /** Records the classifier's cumulative counts at time `t` (null: no classifier running). */
  add(t: number, cumulative: Record<string, number> | null): void {
    const start = Math.floor(t / MINUTE_MS) * MINUTE_MS;
    if (this.#open !== null && this.#open.t !== start) this.#persist();
    const current = cumulative ?? {};
    for (const [name, count] of Object.entries(current)) {
      const before = this.#previous[name] ?? 0;
      const added = count >= before ? count - before : count;
      if (added > 0) {
        this.#open ??= { t: start, counts: {} };
        this.#open.counts[name] = (this.#open.counts[name] ?? 0) + added;
      }
    }
    this.#previous = { ...current };
  }

  /** Persists the minute being filled; resolves once the file is written. */
  flush(): Promise<void> {
    if (this.#open !== null) this.#persist();
    return this.#file.flushed();
  }

  /**
   * Counts of the minutes overlapping `[from, to]`, summed per `step` seconds (rounded to
   * whole minutes, aligned on multiples of the step); empty steps are left out.
   */
  query(range: { from: number; to: number; step: number }): ClassPoint[] {
    const { from, to, step } = range;
    const stepMs = Math.max(1, Math.round(step / 60)) * MINUTE_MS;
    const out = new Map<number, ClassPoint>();
    for (const m of [...this.#minutes, ...(this.#open ? [this.#open] : [])]) {
      if (m.t + MINUTE_MS <= from || m.t > to) continue;
      const t = Math.floor(m.t / stepMs) * stepMs;
      const acc = out.get(t) ?? { t, counts: {} };
      for (const [name, n] of Object.entries(m.counts)) {
        acc.counts[name] = (acc.counts[name] ?? 0) + n;
      }
      out.set(t, acc);
    }
    return [...out.values()].sort((a, b) => a.t - b.t);
  }

  #persist(): void {
    const minute = this.#open!;
    this.#open = null;
    this.#minutes.push(minute);
    const horizon = minute.t - this.#retainMs;
    let drop = 0;
    while (drop < this.#minutes.length && this.#minutes[drop].t < horizon) drop++;
    if (drop > 0) this.#minutes.splice(0, drop);
    this.#file.append([{ t: minute.t, c: minute.counts }]);
  }
}

function pointOf(record: unknown): ClassPoint | null {
  if (record === null || typeof record !== "object") return null;
  const r = record as Record<string, unknown>;
  if (typeof r.t !== "number" || r.c === null || typeof r.c !== "object") return null;
  const counts: Record<string, number> = {};
  for (const [name, n] of Object.entries(r.c as Record<string, unknown>)) {
    if (typeof n === "number" && Number.isFinite(n)) counts[name] = n;
  }
  return { t: r.t, counts };
}
