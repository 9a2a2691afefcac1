/**
 * Runs `batch` plugins over archived hours.
 *
 * - On demand: {@link HourRuns.run} takes an hour range (`YYYY/MM/dd/hh..YYYY/MM/dd/hh`)
 *   and processes every archived hour of every topic in it, re-processing
 *   hours done before (their results are replaced).
 * - On a schedule: while a batch plugin runs, every `everyMs` it processes the
 *   closed hours (an hour is closed `closedAfterMs` after its end, as for the
 *   archive's compaction) that hold archive files it has not processed yet.
 *
 * An hour's files are read (only the plugin's columns) and handed to the
 * plugin in batches of at most `chunkRows` alerts under the same sandbox and
 * budget as stream plugins; results are replaced exactly as in a catch-up
 * (see feed.ts), and the hour is recorded as done once they are all durable.
 * A plugin that fails on an hour is restarted by the host and the hour tried
 * again, up to `maxAttempts` times; then the hour is reported as failed.
 */
import type { Fields } from "../log.ts";
import { listArchivedHours, listHourFiles, listTopics } from "../archive/reader.ts";
import type { ArchivedFile } from "../archive/reader.ts";
import { hourFolderOf } from "../archive/file_names.ts";
import type { Storage } from "../storage/storage.ts";
import { formatHourRange, type HourRange, HourRangeError } from "../archive/hour_range.ts";
import type { PluginHost } from "./host.ts";
import type { ProcessedRange, ProgressStore } from "./progress.ts";
import { pumpFiles } from "./pump.ts";
import type { PluginEvent } from "./runner.ts";

/** Options of {@link HourRuns}. */
export interface HourRunsOptions {
  host: PluginHost;
  /** The archive root. */
  archive: Storage;
  progress: ProgressStore;
  /** Rows per batch at most. */
  chunkRows: number;
  /** An hour is closed this long after its end. */
  closedAfterMs: number;
  /** How often a running batch plugin looks for closed hours to process. */
  everyMs: number;
  /** Attempts per hour before it is reported as failed. Default 3. */
  maxAttempts?: number;
  /** Follow the schedule while a batch plugin runs. Default true (false for one-off runs). */
  schedule?: boolean;
  /** Structured log of what the runs do. */
  log(message: string, fields: Fields): void;
}

/** Progress of a batch plugin's run, shown in its status. */
export interface HourJobStatus {
  /** "on demand" for a requested range, "schedule" for closed hours found by the schedule. */
  kind: "on demand" | "schedule";
  /** The range asked for (on demand). */
  range?: string;
  state: "queued" | "running" | "done" | "failed";
  /** Archived hours (per topic) to process, and how many are done. */
  hours: number;
  done: number;
  /** Hours that failed `maxAttempts` times, as `<topic>/YYYY/MM/dd/hh`. */
  failed: string[];
  /** Hours of the range that hold no archive (on demand). */
  missing: number;
  /** The hour being processed. */
  current?: string;
  error?: string;
}

const HOUR_MS = 3_600_000;

interface HourTask {
  topic: string;
  hour: number;
  dir: string;
}

interface PluginRuns {
  /** Bumped on every failure of the plugin; batches of older attempts are dropped. */
  epoch: number;
  job: HourJobStatus | undefined;
  chain: Promise<void>;
  timer: ReturnType<typeof setTimeout> | undefined;
  scheduled: boolean;
  /** Settles the hour in progress: rejected when the plugin fails. */
  hour: { resolve(): void; reject(error: Error): void } | undefined;
  waiters: Set<() => void>;
}

/** Batch plugin runs over one archive; see the module documentation. */
export class HourRuns {
  #options: HourRunsOptions;
  #plugins = new Map<string, PluginRuns>();
  #oneOff = new Set<string>();
  #closed = false;

  /** Runs over `options.archive`, driven by host events (see {@link onEvent}). */
  constructor(options: HourRunsOptions) {
    this.#options = options;
  }

  /** Pass every host event here: a started batch plugin follows its schedule. */
  onEvent(event: PluginEvent): void {
    if (this.#closed) return;
    const runs = this.#plugins.get(event.plugin);
    if (event.event === "started" && this.#kind(event.plugin) === "batch") {
      const own = this.#runs(event.plugin);
      for (const waiter of own.waiters) waiter();
      own.waiters.clear();
      const oneOff = this.#oneOff.delete(event.plugin);
      if (!own.scheduled && !oneOff && this.#options.schedule !== false) {
        own.scheduled = true;
        this.#schedule(event.plugin, 0);
      }
    }
    if (runs === undefined) return;
    if (event.event === "error" || event.event === "sink_error") {
      runs.epoch++;
      runs.hour?.reject(new Error(String(event.message)));
    }
    if (["stopped", "removed", "failed", "loaded"].includes(event.event)) {
      runs.epoch++;
      runs.scheduled = false;
      clearTimeout(runs.timer);
      runs.hour?.reject(new Error(String(event.message ?? `plugin ${event.plugin} stopped`)));
      for (const waiter of runs.waiters) waiter();
      runs.waiters.clear();
    }
  }

  /**
   * Queues a run of a batch plugin over `range`, after `before` (which starts
   * it) once the range is known to hold archived hours; resolves with its
   * status once queued (it runs in the background, see {@link status} and {@link finished}).
   *
   * @throws HourRangeError when no hour of the range holds an archived file
   */
  async run(
    name: string,
    range: HourRange,
    options: { before?(): Promise<void> } = {},
  ): Promise<HourJobStatus> {
    const tasks = await this.#tasksIn(range);
    const span = range.to - range.from + 1;
    if (tasks.length === 0) {
      throw new HourRangeError(
        `No archived hour in ${formatHourRange(range)} under ${this.#options.archive.location}; ` +
          `archive those hours first or pick hours that \`/api/archive\` lists`,
      );
    }
    const hoursWithData = new Set(tasks.map((t) => t.hour)).size;
    const job: HourJobStatus = {
      kind: "on demand",
      range: formatHourRange(range),
      state: "queued",
      hours: tasks.length,
      done: 0,
      failed: [],
      missing: span - hoursWithData,
    };
    await options.before?.();
    const runs = this.#runs(name);
    runs.job = job;
    runs.chain = runs.chain.then(() => this.#runJob(name, job, tasks));
    return job;
  }

  /** Marks the plugin's next start as one for a single run: it does not follow the schedule. */
  oneOff(name: string): void {
    this.#oneOff.add(name);
  }

  /** Resolves when everything queued for the plugin has finished; its last job's status. */
  async finished(name: string): Promise<HourJobStatus | undefined> {
    const runs = this.#runs(name);
    let chain;
    do {
      chain = runs.chain;
      await chain;
    } while (chain !== runs.chain);
    return runs.job;
  }

  /** The plugin's current or last job, if any. */
  status(name: string): HourJobStatus | undefined {
    return this.#plugins.get(name)?.job;
  }

  /** Stops the schedules and drops what is queued; resolves once the running hour ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const runs of this.#plugins.values()) {
      clearTimeout(runs.timer);
      runs.epoch++;
      runs.hour?.reject(new Error("The plugin host is closing"));
      for (const waiter of runs.waiters) waiter();
    }
    await Promise.all([...this.#plugins.values()].map((r) => r.chain));
  }

  #kind(name: string): string | undefined {
    return this.#options.host.list().find((p) => p.name === name)?.kind;
  }

  #runs(name: string): PluginRuns {
    let runs = this.#plugins.get(name);
    if (runs === undefined) {
      runs = {
        epoch: 0,
        job: undefined,
        chain: Promise.resolve(),
        timer: undefined,
        scheduled: false,
        hour: undefined,
        waiters: new Set(),
      };
      this.#plugins.set(name, runs);
    }
    return runs;
  }

  #schedule(name: string, delayMs: number): void {
    const runs = this.#runs(name);
    clearTimeout(runs.timer);
    runs.timer = setTimeout(() => {
      runs.timer = undefined;
      if (!runs.scheduled || this.#closed) return;
      runs.chain = runs.chain
        .then(() => this.#scheduledPass(name))
        .catch((error) =>
          this.#options.log("looking for closed hours failed", {
            plugin: name,
            error: (error as Error).message,
          })
        )
        .finally(() => {
          if (runs.scheduled && !this.#closed) this.#schedule(name, this.#options.everyMs);
        });
    }, delayMs);
  }

  async #scheduledPass(name: string): Promise<void> {
    if (!this.#running(name)) return;
    const closedBefore = Date.now() - this.#options.closedAfterMs;
    const due: HourTask[] = [];
    for (const topic of await listTopics(this.#options.archive)) {
      const done = await this.#options.progress.hours(name, topic);
      for (const { hour, dir } of await listArchivedHours(this.#options.archive, topic)) {
        if ((hour + 1) * HOUR_MS > closedBefore) continue;
        const files = await listHourFiles(this.#options.archive, { topic, hour, dir });
        if (files.length > 0 && !covered(files, done.get(hourFolderOf(topic, dir)) ?? [])) {
          due.push({ topic, hour, dir });
        }
      }
    }
    if (due.length === 0) return;
    const job: HourJobStatus = {
      kind: "schedule",
      state: "queued",
      hours: due.length,
      done: 0,
      failed: [],
      missing: 0,
    };
    await this.#runJob(name, job, due);
  }

  async #tasksIn(range: HourRange): Promise<HourTask[]> {
    const tasks: HourTask[] = [];
    for (const topic of await listTopics(this.#options.archive)) {
      for (const { hour, dir } of await listArchivedHours(this.#options.archive, topic, range)) {
        tasks.push({ topic, hour, dir });
      }
    }
    return tasks.sort((a, b) => a.hour - b.hour || (a.topic < b.topic ? -1 : 1));
  }

  #running(name: string): boolean {
    return this.#options.host.list().some((p) => p.name === name && p.state === "running");
  }

  async #runJob(name: string, job: HourJobStatus, tasks: HourTask[]): Promise<void> {
    const runs = this.#runs(name);
    runs.job = job;
    job.state = "running";
    this.#options.log("batch run started", { plugin: name, kind: job.kind, hours: job.hours });
    for (const task of tasks) {
      if (this.#closed) break;
      job.current = `${task.dir}`;
      const error = await this.#hourWithRetries(name, task);
      if (error === undefined) {
        job.done++;
      } else {
        job.failed.push(task.dir);
        job.error = error;
        this.#options.log("hour failed", { plugin: name, hour: task.dir, error });
      }
    }
    job.current = undefined;
    job.state = job.failed.length > 0 || this.#closed ? "failed" : "done";
    if (this.#closed && job.error === undefined) job.error = "The process stopped during the run";
    this.#options.log("batch run finished", {
      plugin: name,
      kind: job.kind,
      done: job.done,
      failed: job.failed.length,
    });
  }

  /** Processes one hour, retrying after failures; resolves to the last error, if it never succeeded. */
  async #hourWithRetries(name: string, task: HourTask): Promise<string | undefined> {
    const attempts = this.#options.maxAttempts ?? 3;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#closed) return "The process stopped during the run";
      if (!this.#running(name)) await this.#untilRunning(name);
      if (!this.#running(name)) {
        const state = this.#options.host.list().find((p) => p.name === name)?.state ?? "removed";
        return `plugin ${name} is ${state}; start it to process hours`;
      }
      try {
        await this.#hour(name, task);
        return undefined;
      } catch (error) {
        last = (error as Error).message;
      }
    }
    return `${attempts} attempts failed, the last with: ${last}`;
  }

  /** Waits for the plugin's next start, or for it to stop for good. */
  #untilRunning(name: string): Promise<void> {
    const state = this.#options.host.list().find((p) => p.name === name)?.state;
    if (state !== "restarting" && state !== "starting") return Promise.resolve();
    return new Promise((resolve) => this.#runs(name).waiters.add(resolve));
  }

  async #hour(name: string, task: HourTask): Promise<void> {
    const runs = this.#runs(name);
    const epoch = runs.epoch;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    // Rejected by a failure event even when nothing awaits it yet.
    promise.catch(() => {});
    runs.hour = { resolve, reject };
    try {
      const files = await listHourFiles(this.#options.archive, task);
      const columns = this.#options.host.list().find((p) => p.name === name)?.columns;
      let pending = 0;
      let queuedAll = false;
      const settle = () => {
        if (queuedAll && pending === 0) resolve();
      };
      const pumped = await pumpFiles({
        archive: this.#options.archive,
        files,
        all: files,
        columns,
        chunkRows: this.#options.chunkRows,
        stale: () => runs.epoch !== epoch,
        send: (batch) => {
          if (!this.#options.host.hasRoom(name)) return false;
          pending++;
          this.#options.host.dispatch(batch, {
            to: [name],
            ticket: () => ({
              current: () => runs.epoch === epoch && !this.#closed,
              written: () => {
                pending--;
                settle();
                return Promise.resolve();
              },
            }),
          });
          return true;
        },
        room: async () => {
          await Promise.race([this.#options.host.ready(name), promise]);
          return true;
        },
      });
      // Stopped by a failure: the hour's promise says how.
      if (!pumped) return await promise;
      queuedAll = true;
      settle();
      await promise;
      await this.#options.progress.saveHour(name, task.topic, {
        folder: hourFolderOf(task.topic, task.dir),
        ranges: files.map((f) => ({
          partition: f.partition,
          start: f.startOffset,
          end: f.endOffset,
        })),
      });
    } finally {
      runs.hour = undefined;
    }
  }
}

/** Whether every file's range lies inside a processed range of its partition. */
function covered(files: ArchivedFile[], done: ProcessedRange[]): boolean {
  return files.every((f) =>
    done.some((r) =>
      r.partition === f.partition && r.start <= f.startOffset && f.endOffset <= r.end
    )
  );
}
