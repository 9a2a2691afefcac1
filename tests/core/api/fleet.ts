/**
 * Test services for the API: an archive and a `classify` plugin fed with the
 * real alerts of Fink's science test set (candid, jd and the cross-match class
 * Fink gave each one), counted with the archive's own ArchiveStats and the
 * plugin host's own SummaryAccumulator, so the details have the real shapes.
 */
import { Histogram, SHORT_SECONDS } from "../../../core/histogram.ts";
import { ArchiveStats } from "../../../core/archive/stats.ts";
import { loadConfig } from "../../../core/config/mod.ts";
import { createApiApp, type GroupStatus } from "../../../core/api/app.ts";
import type { ArchiveIndexer } from "../../../core/api/archive_index.ts";
import type { ArchiveSnapshot } from "../../../core/archive/service.ts";
import { figureSourcesOf, type PluginFigureSource } from "../../../core/metrics/figures.ts";
import { MetricsRecorder } from "../../../core/metrics/recorder.ts";
import { SummaryAccumulator } from "../../../core/plugins/summary.ts";
import { ServiceManager } from "../../../core/services/manager.ts";
import type { Service } from "../../../core/services/service.ts";
import { sharedData } from "../../shared_data.ts";

/** One real alert with the class Fink's cross-match gave it. */
export interface RealAlert {
  objectId: string;
  candid: bigint;
  jd: number;
  cls: string;
  bytes: number;
}

/** The 124 alerts of fink-science's 2021-11-22 test set. */
export async function realAlerts(): Promise<RealAlert[]> {
  const text = await Deno.readTextFile(
    sharedData("expected/fink-outputs/ztf_fink-science-datatest-20211122.csv"),
  );
  const [header, ...rows] = text.trim().split("\n");
  const col = header.split(",");
  const at = (name: string) => col.indexOf(name);
  return rows.map((row) => {
    const f = row.split(",");
    return {
      objectId: f[at("objectId")],
      candid: BigInt(f[at("candid")]),
      jd: Number(f[at("jd")]),
      cls: f[at("cdsxmatch")],
      bytes: row.length,
    };
  });
}

/** The plain hour folder (`YYYY/MM/dd/hh`) of a Julian Date. */
export function hourOf(jd: number): string {
  const d = new Date((jd - 2440587.5) * 86_400_000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${
    p(d.getUTCHours())
  }`;
}

/** Class counts, plus a ranking by the fraction of day of each alert's jd (a stand-in score). */
function newSummary(): SummaryAccumulator {
  return new SummaryAccumulator({ class: "string", score: "float64" }, {
    recentRows: 20,
    ranking: { column: "score", order: "ascending", bins: [0.25, 0.5, 0.75], top: 5 },
  });
}

/** A classifier plugin service counting the real classes with the host's SummaryAccumulator. */
export class TestClassifier implements Service<PluginFigureSource> {
  readonly name = "classify";
  readonly kind = "plugin" as const;
  readonly description = "Test classifier: Fink's recorded cdsxmatch class";
  batches = 0;
  rows = 0;
  #summary = newSummary();
  #batchSeconds = new Histogram(SHORT_SECONDS);
  #running = false;

  start(): Promise<void> {
    this.#running = true;
    this.#summary = newSummary();
    this.batches = 0;
    this.rows = 0;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#running = false;
    return Promise.resolve();
  }

  /** Classifies a batch when running. */
  process(alerts: RealAlert[]): void {
    if (!this.#running || alerts.length === 0) return;
    this.#summary.add(
      alerts.map((a) => ({ id: a.candid, class: a.cls, score: a.jd % 1 })),
      new Map(alerts.map((a) => [a.candid, a.objectId])),
    );
    this.batches++;
    this.#batchSeconds.observe(0.0005);
    this.rows += alerts.length;
  }

  details(): PluginFigureSource {
    return {
      name: this.name,
      state: "running",
      permissions: { read: ["../shared/data/catalogs"] },
      batches: this.batches,
      rows: this.rows,
      errors: 0,
      lastError: null,
      avgMsPerBatch: 0.5,
      batchSeconds: this.#batchSeconds.snapshot(),
      restarts: 0,
      summary: this.#summary.snapshot(this.name),
    };
  }
}

/** Options of {@link TestArchive}. */
export interface TestArchiveOptions {
  /** Receive this many alerts every `feedMs` while running (0: only by `feed`). */
  perFeed?: number;
  feedMs?: number;
  /** Archive what was received every this many ms while running, like the batcher. Default 1000. */
  flushMs?: number;
  /** Where the archive says it writes. Default `/tmp/test-archive`. */
  storage?: string;
}

/** An archive service that "archives" the real alerts round after round on two partitions. */
export class TestArchive implements Service<ArchiveSnapshot> {
  readonly name = "archive";
  readonly kind = "builtin" as const;
  readonly description = "Test archive over Fink's science test alerts";
  stats = new ArchiveStats();
  #alerts: RealAlert[];
  #classifier: TestClassifier;
  #options: Required<TestArchiveOptions>;
  #next = 0;
  #buffered: { offset: number; alert: RealAlert }[] = [];
  #timers: ReturnType<typeof setInterval>[] = [];

  constructor(alerts: RealAlert[], classifier: TestClassifier, options: TestArchiveOptions = {}) {
    this.#alerts = alerts;
    this.#classifier = classifier;
    this.#options = {
      perFeed: 0,
      feedMs: 100,
      flushMs: 1000,
      storage: "/tmp/test-archive",
      ...options,
    };
  }

  start(): Promise<void> {
    this.stats = new ArchiveStats();
    this.#next = 0;
    this.#buffered = [];
    this.#startTimers();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#stopTimers();
    return Promise.resolve();
  }

  /** Receives and archives the next `n` alerts at once. */
  feed(n: number): void {
    this.receive(n);
    this.flush();
  }

  /** Receives the next `n` alerts; they count as buffered (and as lag) until {@link flush}. */
  receive(n: number): void {
    for (let i = 0; i < n; i++) {
      const offset = this.#next++;
      const alert = this.#alerts[offset % this.#alerts.length];
      const counts = this.stats.partition({ topic: "ztf-sim", partition: offset % 2 });
      counts.received++;
      counts.inFlight++;
      counts.bytesIn += alert.bytes;
      counts.lag = (counts.lag ?? 0) + 1;
      this.#buffered.push({ offset, alert });
    }
  }

  /** Archives what was received (an "Inexistent" class stands for an undecodable alert) and commits. */
  flush(): void {
    const classified: RealAlert[] = [];
    for (const { offset, alert } of this.#buffered) {
      const tp = { topic: "ztf-sim", partition: offset % 2 };
      const counts = this.stats.partition(tp);
      counts.inFlight--;
      if (alert.cls === "Inexistent") {
        counts.quarantined++;
        this.stats.addError(`ztf-sim[${tp.partition}]@${offset >> 1}: not an Avro container`);
      } else {
        counts.decoded++;
        counts.archived++;
        this.stats.addFile(tp.topic, hourOf(alert.jd), 1, alert.bytes * 10);
        classified.push(alert);
      }
      counts.committedOffset = String(offset >> 1);
      counts.lag = Math.max(0, (counts.lag ?? 1) - 1);
      this.stats.lastCommit = {
        at: new Date().toISOString(),
        ...tp,
        offset: counts.committedOffset,
      };
    }
    this.#buffered = [];
    this.#classifier.process(classified);
  }

  /**
   * Replays `seconds` of the past up to now, sampling `recorder` once per simulated second:
   * a slow wave of 5 to 35 alerts/s, archived every 3 s. Runs synchronously, so no timer interleaves.
   */
  replayPast(seconds: number, recorder: MetricsRecorder): void {
    this.#stopTimers();
    this.stats = new ArchiveStats();
    const now = Date.now();
    for (let i = seconds; i >= 1; i--) {
      const t = now - i * 1000;
      this.receive(20 + Math.round(15 * Math.sin(i / 9)));
      if (i % 3 === 0) this.flush();
      this.stats.tick(t);
      recorder.sample(t);
    }
    this.#startTimers();
  }

  details(): ArchiveSnapshot {
    return {
      source: "test feed",
      storage: this.#options.storage,
      connected: true,
      storageProblem: null,
      problems: [],
      ...this.stats.figures(this.#buffered.length),
    };
  }

  #startTimers(): void {
    if (this.#options.perFeed === 0 || this.#timers.length > 0) return;
    this.#timers = [
      setInterval(() => this.receive(this.#options.perFeed), this.#options.feedMs),
      setInterval(() => this.flush(), this.#options.flushMs),
      setInterval(() => this.stats.tick(), 250),
    ];
  }

  #stopTimers(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }
}

/** A plain builtin service that only starts and stops. */
export function idleService(name: string): Service {
  return {
    name,
    kind: "builtin",
    description: `Test service ${name}`,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
}

/** Options of {@link startTestApi}. */
export interface TestApiOptions {
  /** State folder; a new temporary one when absent. */
  dir?: string;
  /** Archive feed (see {@link TestArchiveOptions}). */
  archive?: TestArchiveOptions;
  /** Recorder interval; the recorder is not started when absent. */
  sampleMs?: number;
  token?: string;
  archiveIndex?: ArchiveIndexer;
  /** Config file to load (TOML). */
  configFile?: string;
  /** The consumer group the API shows (`/api/status` group, `/api/group`). */
  group?: GroupStatus;
}

/** A served API over the test services, and how to end it. */
export interface TestApi {
  url: string;
  token: string;
  dir: string;
  manager: ServiceManager;
  archive: TestArchive;
  classifier: TestClassifier;
  recorder: MetricsRecorder;
  shutdowns: number;
  /** Registers another plugin service, whose details feed the figures like the classifier's. */
  registerPlugin(service: Service<PluginFigureSource>): void;
  /** Stops the services, the recorder and the server (the state folder stays). */
  close(): Promise<void>;
}

/** Serves the API on 127.0.0.1 over a manager with the test archive, classifier and a spare service. */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "fink-api-" });
  const config = await loadConfig({
    file: options.configFile ?? null,
    env: {},
    sets: [`process.state_dir=${dir}`],
  });
  const classifier = new TestClassifier();
  const archive = new TestArchive(await realAlerts(), classifier, options.archive);
  const manager = new ServiceManager();
  manager.register(idleService("simulator"));
  manager.register(archive);
  manager.register(classifier);
  const plugins: Service<PluginFigureSource>[] = [classifier];
  const recorder = await MetricsRecorder.open({
    dir,
    read: () => figureSourcesOf(manager.statuses(), { archive, plugins }),
    intervalMs: options.sampleMs,
  });
  if (options.sampleMs !== undefined) recorder.start();
  const token = options.token ?? "test-token";
  const api = {
    url: "",
    token,
    dir,
    manager,
    archive,
    classifier,
    recorder,
    shutdowns: 0,
    registerPlugin(service: Service<PluginFigureSource>) {
      manager.register(service);
      plugins.push(service);
    },
    close: async () => {},
  };
  const app = createApiApp({
    config,
    manager,
    token,
    startedAt: new Date(),
    shutdown: () => api.shutdowns++,
    metrics: recorder,
    archiveIndex: options.archiveIndex,
    group: options.group,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  api.url = `http://127.0.0.1:${server.addr.port}`;
  api.close = async () => {
    await manager.stopAll();
    await recorder.close();
    await server.shutdown();
  };
  return api;
}
