/**
 * Several broker nodes in one consumer group, as operators run them: real
 * `main.ts start archive` processes sharing one archive root and one science
 * root (a local folder, or the WebHDFS test server), one Kafka (the embedded
 * broker, in the test process) and one plugin folder; each node has its own
 * state folder, API port and client id. Nodes join, leave (asked through their
 * API), are killed or paused with signals; the test streams real ZTF alerts in
 * and reads back what the nodes made: the archive, the stream plugins'
 * results and the distribution's topics.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { type Broker, startBroker } from "../../simulator/broker/mod.ts";
import { readProcessState } from "../../core/process/state_file.ts";
import { openStorage } from "../../core/storage/mod.ts";
import type { Storage } from "../../core/storage/storage.ts";
import { readCommittedOffsets } from "../../core/archive/reader.ts";
import { listAlertFiles } from "../../core/source/files.ts";
import { frameContainer } from "../../core/avro/container.ts";
import { sharedData } from "../shared_data.ts";
import { WebHdfsTestServer } from "./webhdfs_server.ts";
import { drain, ROOT } from "./fink_process.ts";
import { waitFor } from "./wait.ts";
import { archiveFiles, query } from "./duckdb.ts";

/** Where the shared roots live. */
export type Backend = "local" | "webhdfs";

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  backend: Backend;
  /** Partitions of the alert topic. */
  partitions: number;
  /** Stream plugin files to install: name → source text. */
  plugins?: Record<string, string>;
  /** TOML appended to the nodes' configuration file (filters...). */
  config?: string;
  /** `--set` values every node gets, over the cluster's own. */
  settings?: Record<string, string | number>;
}

/** What {@link Cluster.stream} sent. */
export interface Sent {
  /** Messages per partition (offsets 0 to n - 1: the producer is the topic's only one). */
  messages: number[];
  /** Alerts in each message, by `partition/offset` (a ZTF container may hold several). */
  alerts: Map<string, number>;
}

/** One archived row: its partition, offset, alert id, and whether it passes a filter. */
export interface ArchivedRow {
  p: number;
  o: string;
  id: string;
  passes: boolean;
}

/** One node: a `main.ts start archive` process. */
export interface ClusterNode {
  name: string;
  child: Deno.ChildProcess;
  stateDir: string;
  /** Its stderr so far. */
  log(): string;
  exited: boolean;
  /** Asked to leave the group: it stops on its own. */
  leaving: boolean;
  /** How it ended: the signal that ended it, or its exit code. */
  status: Promise<Deno.CommandStatus>;
}

const ALERT_TOPIC = "ztf-chaos";
const DEFINE = new URL("../../core/plugins/define.ts", import.meta.url).href;

/** A stream plugin with one result row per alert; results are compared with the archive. */
export const TAGGER_PLUGIN = `import { definePlugin } from "${DEFINE}";
export default definePlugin({
  name: "tagger",
  description: "One row per alert: its magnitude",
  columns: ["candid", "candidate"],
  outputs: { magpsf: "float64" },
  process(batch) {
    const mag = batch.getChild("candidate").getChild("magpsf");
    return Array.from(batch.getChild("candid").toArray(), (id, i) => ({ id, magpsf: mag.get(i) }));
  },
});
`;

/** A cluster of nodes over shared roots; see the module comment. */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  readonly topic = ALERT_TOPIC;
  #count = 0;
  #producer: Producer | null = null;

  private constructor(
    readonly dir: string,
    readonly broker: Broker,
    readonly hdfs: WebHdfsTestServer | null,
    readonly options: ClusterOptions,
  ) {}

  /** Starts the broker (and the WebHDFS server), creates the alert topic, writes the shared config. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = await Deno.makeTempDir({ prefix: "fink-cluster-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    broker.createTopic(ALERT_TOPIC, options.partitions);
    const hdfs = options.backend === "webhdfs" ? await WebHdfsTestServer.start() : null;
    await Deno.mkdir(join(dir, "plugins"));
    for (const [name, text] of Object.entries(options.plugins ?? {})) {
      await Deno.writeTextFile(join(dir, "plugins", `${name}.ts`), text);
    }
    await Deno.writeTextFile(join(dir, "fink.toml"), options.config ?? "");
    return new Cluster(dir, broker, hdfs, options);
  }

  /** `archive.root` as the nodes see it. */
  get archiveRoot(): string {
    return this.hdfs?.url("/fink/archive") ?? join(this.dir, "archive");
  }

  /** `science.root` as the nodes see it. */
  get scienceRoot(): string {
    return this.hdfs?.url("/fink/science") ?? join(this.dir, "science");
  }

  /** The archive root as a local folder (the WebHDFS server's own), for DuckDB. */
  get archiveDir(): string {
    return this.hdfs?.localPath("/fink/archive") ?? join(this.dir, "archive");
  }

  /** The science root as a local folder, for DuckDB. */
  get scienceDir(): string {
    return this.hdfs?.localPath("/fink/science") ?? join(this.dir, "science");
  }

  /** The archive storage, through the product's own Storage. */
  archive(): Storage {
    return openStorage(this.archiveRoot);
  }

  /** The nodes still running (not exited; paused ones included). */
  running(): ClusterNode[] {
    return this.nodes.filter((n) => !n.exited);
  }

  /** Starts a new node; it joins the group once its process is up. */
  spawn(): ClusterNode {
    const name = `node-${++this.#count}`;
    const stateDir = join(this.dir, "nodes", name);
    const settings: Record<string, string | number> = {
      "archive.root": this.archiveRoot,
      "science.root": this.scienceRoot,
      "process.state_dir": stateDir,
      "plugins.dir": join(this.dir, "plugins"),
      "ui.port": 0,
      "kafka.brokers": this.broker.address,
      "kafka.topics": ALERT_TOPIC,
      "kafka.group": "fink-cluster",
      "kafka.client_id": name,
      "distribution.brokers": this.broker.address,
      ...this.options.settings,
    };
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "main.ts",
        "start",
        "archive",
        `--config=${join(this.dir, "fink.toml")}`,
        ...Object.entries(settings).map(([k, v]) => `--set=${k}=${v}`),
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const drained = drain(child.stderr, lines);
    const node: ClusterNode = {
      name,
      child,
      stateDir,
      log: () => lines.join(""),
      exited: false,
      leaving: false,
      status: child.status.then(async (status) => {
        node.exited = true;
        await drained;
        return status;
      }),
    };
    this.nodes.push(node);
    return node;
  }

  /** The node's API base URL once it answers, or null when it exited first. */
  async api(node: ClusterNode): Promise<string | null> {
    return await waitFor(`${node.name}'s API`, async () => {
      if (node.exited) return null;
      const state = await readProcessState(node.stateDir);
      if (state === null || state.pid !== node.child.pid) return undefined;
      const res = await fetch(`${state.url}/api/status`).catch(() => null);
      await res?.body?.cancel();
      return res?.ok ? state.url : undefined;
    });
  }

  /** Asks a node to leave: shutdown through its API, SIGTERM while it has none yet. */
  async leave(node: ClusterNode): Promise<void> {
    node.leaving = true;
    const state = await readProcessState(node.stateDir);
    const res = state === null || state.pid !== node.child.pid ? null : await fetch(
      `${state.url}/api/shutdown`,
      { method: "POST", headers: { authorization: `Bearer ${state.token}` } },
    ).catch(() => null);
    await res?.body?.cancel();
    if (res?.ok !== true) this.signal(node, "SIGTERM");
  }

  /** Sends a signal to a node's process (a node that already ended is left alone). */
  signal(node: ClusterNode, signal: Deno.Signal): void {
    if (node.exited) return;
    try {
      node.child.kill(signal);
    } catch {
      // It ended meanwhile.
    }
  }

  /**
   * Sends `copies` copies of the shared ZTF alerts (or those of `options.folder`), copy k of
   * file i to partition (i + k) % partitions, `perSecond` at most (Infinity: as fast as the
   * broker takes them), until `options.signal` aborts.
   */
  async stream(
    copies: number,
    perSecond: number,
    options: { signal?: AbortSignal; folder?: string } = {},
  ): Promise<Sent> {
    const files = await listAlertFiles(options.folder ?? sharedData("ztf/alerts"));
    const alerts = await Promise.all(files.map(async (f) => Buffer.from(await Deno.readFile(f))));
    const counts = alerts.map((a) => frameContainer(a).blocks.reduce((n, b) => n + b.count, 0));
    const perMessage = new Map<string, number>();
    const kafka = new Kafka({
      brokers: [this.broker.address],
      logLevel: logLevel.NOTHING,
      clientId: "cluster-producer",
    });
    this.#producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await this.#producer.connect();
    const sent = Array.from({ length: this.options.partitions }, () => 0);
    const chunk = 10;
    const start = Date.now();
    let total = 0;
    for (let k = 0; k < copies && !options.signal?.aborted; k++) {
      for (let i = 0; i < alerts.length && !options.signal?.aborted; i += chunk) {
        const messages = alerts.slice(i, i + chunk).map((value, j) => {
          const partition = (i + j + k) % this.options.partitions;
          perMessage.set(`${partition}/${sent[partition]++}`, counts[i + j]);
          return { value, partition };
        });
        await this.#producer.send({ topic: ALERT_TOPIC, messages });
        total += messages.length;
        // Pacing, not synchronisation: alerts keep streaming in while the nodes change.
        const ahead = start + (total / perSecond) * 1000 - Date.now();
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      }
    }
    return { messages: sent, alerts: perMessage };
  }

  /** Waits until the archive's ledger has committed every message sent, per partition. */
  async archived(sent: Sent): Promise<void> {
    const storage = this.archive();
    await waitFor("every alert to be archived", async () => {
      const committed = await readCommittedOffsets(storage);
      const done = sent.messages.every((n, partition) => {
        const c = committed.find((o) => o.topic === ALERT_TOPIC && o.partition === partition);
        return n === 0 || c?.offset === BigInt(n - 1);
      });
      return done ? true : undefined;
    }, { timeoutMs: 600_000 });
  }

  /**
   * Checks the archive holds every alert sent exactly once, read as the README says readers
   * must (files no other file supersedes): per `partition/offset`, as many rows as the message
   * had alerts, no (offset, alert id) twice. Returns the rows.
   */
  async archivedOnce(sent: Sent, passes = "false"): Promise<ArchivedRow[]> {
    const rows = await query(`
      select kafka_partition::int p, kafka_offset::varchar o, candid::varchar id,
             coalesce(${passes}, false) passes
      from read_parquet(${await archiveFiles(
      `${this.archiveDir}/${ALERT_TOPIC}/*/*/*/*/*.parquet`,
    )}, union_by_name = true)`) as unknown as ArchivedRow[];
    const found = new Map<string, number>();
    for (const r of rows) found.set(`${r.p}/${r.o}`, (found.get(`${r.p}/${r.o}`) ?? 0) + 1);
    const wrong = [...new Set([...sent.alerts.keys(), ...found.keys()])]
      .filter((k) => sent.alerts.get(k) !== found.get(k))
      .map((k) => `${k}: sent ${sent.alerts.get(k) ?? 0} alerts, archived ${found.get(k) ?? 0}`);
    assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} messages archived wrongly`);
    const triples = new Set(rows.map((r) => `${r.p}/${r.o}/${r.id}`));
    assert.equal(triples.size, rows.length, "an alert was archived twice");
    return rows;
  }

  /** Stops every node still running (asked to leave; SIGKILL past the hang guard). */
  async stopAll(): Promise<void> {
    for (const node of this.running()) {
      this.signal(node, "SIGCONT");
      await this.leave(node);
    }
    for (const node of this.nodes) {
      const kill = setTimeout(() => this.signal(node, "SIGKILL"), 60_000);
      await node.status;
      clearTimeout(kill);
    }
  }

  /**
   * What each node logged lately, without the periodic figures: for a failure's message.
   * With `FINK_CLUSTER_LOGS=<folder>`, {@link close} keeps every node's whole log there, and
   * the cluster's folders (archive, science) below it.
   */
  logs(lines = 40): string {
    return this.nodes.map((n) => {
      const kept = n.log().split("\n").filter((l) => l !== "" && !l.includes("msg=figures"));
      return `--- ${n.name}\n${kept.slice(-lines).join("\n")}`;
    }).join("\n");
  }

  /** Stops the nodes, the broker and the WebHDFS server, and removes every folder. */
  async close(): Promise<void> {
    await this.#producer?.disconnect().catch(() => {});
    await this.stopAll();
    const keep = Deno.env.get("FINK_CLUSTER_LOGS");
    if (keep !== undefined) {
      await Deno.mkdir(keep, { recursive: true });
      for (const n of this.nodes) await Deno.writeTextFile(join(keep, `${n.name}.log`), n.log());
      await Deno.rename(this.dir, join(keep, "cluster"));
      if (this.hdfs !== null) await Deno.rename(this.hdfs.dataDir, join(keep, "hdfs"));
    }
    await this.broker.close();
    if (keep !== undefined && this.hdfs !== null) await Deno.mkdir(this.hdfs.dataDir);
    await this.hdfs?.close();
    if (keep === undefined) await Deno.remove(this.dir, { recursive: true });
  }
}
