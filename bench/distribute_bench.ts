/**
 * Distribution benchmark.
 *
 * - Throughput: an archive of `alerts` real ZTF alerts (the shared night,
 *   archived once, then copied with shifted offsets into files of 500, as
 *   the archive writes them) is distributed through one filter every alert
 *   passes (`where = "true"`) to the embedded broker: alerts/s filtered,
 *   encoded and published in transactions, in this process.
 * - Latency: `start archive --simulator` with the distribution on, the
 *   simulator sending synthetic alerts at `liveRate` alerts/s; a kafkajs
 *   read_committed subscriber decodes each message (key = schema) and takes
 *   receive time minus the source message's `kafka_timestamp`. No plugins
 *   run, so no batch waits for science results.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../simulator/broker/mod.ts";
import { avroType } from "../simulator/alerts/avro_type.ts";
import { LocalStorage } from "../core/storage/local.ts";
import { Distributor } from "../core/distribution/distributor.ts";
import { TransactionalPublisher } from "../core/distribution/publisher.ts";
import { FilterCounters } from "../core/distribution/status.ts";
import { freePort } from "../tests/support/fink_process.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

/** Options of {@link runDistributeBench}. */
export interface DistributeBenchOptions {
  /** Alerts distributed in the throughput phase (default 5,000). */
  alerts?: number;
  /** Live rate of the latency phase (default 1,000 alerts/s). */
  liveRate?: number;
  /** Seconds of live stream (default 15). */
  liveSeconds?: number;
}

function fink(args: string[], cwd = ROOT): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** An archive of `alerts` real alerts under `dir/archive` (topic `bench`, partition 0). */
export async function buildArchive(dir: string, alerts: number): Promise<void> {
  const seed = join(dir, "seed");
  const child = fink([
    "start",
    "archive",
    `--source=files:${join(SHARED, "ztf/alerts/fink-broker-local-20200101")}`,
    `--set=archive.root=${seed}`,
    `--set=science.root=${join(dir, "seed-science")}`,
    `--set=process.state_dir=${join(dir, "seed-state")}`,
    `--set=plugins.dir=${join(dir, "no-plugins")}`,
    "--set=ui.port=0",
  ]);
  await child.status;
  const source = [...Deno.readDirSync(join(seed, "files/2020/01/01/13"))][0].name;
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  const hourDir = join(dir, "archive/bench/2020/01/01/13");
  await Deno.mkdir(hourDir, { recursive: true });
  const perFile = 500;
  for (let start = 0; start < alerts; start += perFile) {
    const copies = [];
    for (let k = start; k < start + perFile && k < alerts; k += 50) {
      copies.push(
        `SELECT * REPLACE (kafka_offset + ${k} AS kafka_offset, 'bench' AS kafka_topic) ` +
          `FROM read_parquet('${join(seed, "files/2020/01/01/13", source)}')`,
      );
    }
    const end = start + copies.length * 50 - 1;
    await c.run(
      `COPY (${copies.join(" UNION ALL ")} ORDER BY kafka_offset) TO '${
        join(hourDir, `bench+0+${start}+${end}.parquet`)
      }' (FORMAT parquet)`,
    );
  }
  c.closeSync();
  await Deno.mkdir(join(dir, "archive/_offsets"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "archive/_offsets/bench+0.json"),
    JSON.stringify({ offset: String(alerts - 1), at: new Date().toISOString() }),
  );
}

async function throughput(dir: string, alerts: number) {
  await buildArchive(dir, alerts);
  const broker = await startBroker({ port: 0, dataDir: null });
  const publisher = await TransactionalPublisher.connect({
    brokers: [broker.address],
    transactionalId: "bench",
    group: "bench",
    progressTopic: "bench_progress",
    partitions: 1,
  });
  const counters = new FilterCounters();
  try {
    const distributor = new Distributor({
      archive: new LocalStorage(join(dir, "archive")),
      science: new LocalStorage(join(dir, "science")),
      sink: publisher,
      filters: () => [{ name: "all", where: "true", description: "" }],
      counters,
      topicOf: (name) => `fink_${name}_ztf`,
      absent: {},
      scienceWaitMs: 0,
      scienceProgress: () => Promise.resolve(null),
      onPublished: () => {},
      log: () => {},
    });
    const t0 = performance.now();
    const read = await distributor.round();
    const seconds = (performance.now() - t0) / 1000;
    const [figures] = counters.figures([{ name: "all", where: "true", topic: "" }]);
    return {
      alerts: read,
      published: figures.published,
      seconds: Math.round(seconds * 100) / 100,
      alertsPerSecond: Math.round(read / seconds),
      goalAlertsPerSecond: 5000,
    };
  } finally {
    await publisher.close();
    await broker.close();
  }
}

async function latency(dir: string, rate: number, seconds: number) {
  const port = freePort();
  const config = join(dir, "live.toml");
  await Deno.writeTextFile(
    config,
    `[distribution]\ndefault_filters = false\n\n[distribution.filters.all]\nwhere = "true"\n`,
  );
  const child = fink([
    "start",
    "archive",
    "--simulator",
    `--config=${config}`,
    `--set=simulator.port=${port}`,
    `--set=simulator.data_dir=${join(dir, "live-broker")}`,
    `--set=simulator.rate=${rate}`,
    "--set=simulator.partitions=1",
    `--set=archive.root=${join(dir, "live-archive")}`,
    `--set=science.root=${join(dir, "live-science")}`,
    `--set=process.state_dir=${join(dir, "live-state")}`,
    `--set=plugins.dir=${join(dir, "no-plugins")}`,
    "--set=distribution.poll_ms=200",
    "--set=ui.port=0",
  ]);
  const latencies: number[] = [];
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 300 },
  });
  const consumer = kafka.consumer({ groupId: "bench-subscriber", maxWaitTimeInMs: 100 });
  try {
    await waitForPort(port);
    await consumer.connect();
    const admin = kafka.admin();
    await admin.connect();
    for (;;) {
      if ((await admin.listTopics()).includes("fink_all_ztf")) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin.disconnect();
    await consumer.subscribe({ topic: "fink_all_ztf", fromBeginning: true });
    const types = new Map<string, ReturnType<typeof avroType>>();
    const start = Date.now();
    await consumer.run({
      eachMessage: ({ message }) => {
        const key = message.key!.toString();
        let type = types.get(key);
        if (!type) types.set(key, type = avroType(JSON.parse(key)));
        const record = type.fromBuffer(Buffer.from(message.value!)) as Record<string, unknown>;
        latencies.push(Date.now() - Number(record.kafka_timestamp));
        return Promise.resolve();
      },
    });
    // Warm-up (process start, first batches) is left out: 5 s, then `seconds` of stream.
    await new Promise((r) => setTimeout(r, 5000));
    const from = latencies.length;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const sample = latencies.slice(from).sort((a, b) => a - b);
    const q = (p: number) =>
      sample.length === 0 ? null : sample[Math.floor(p * (sample.length - 1))];
    return {
      rate,
      received: sample.length,
      receivedPerSecond: Math.round(sample.length / seconds),
      latencyP50Ms: q(0.5),
      latencyP99Ms: q(0.99),
      goalP99Ms: 3000,
      elapsedSeconds: Math.round((Date.now() - start) / 1000),
    };
  } finally {
    await consumer.disconnect().catch(() => {});
    child.kill("SIGTERM");
    await child.status;
  }
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`Nothing answered on port ${port} after 60 s`);
}

/** Runs both phases; see the module documentation. */
export async function runDistributeBench(options: DistributeBenchOptions = {}) {
  const dir = await Deno.makeTempDir({ prefix: "fink-bench-distribute-" });
  try {
    await Deno.mkdir(join(dir, "no-plugins"));
    return {
      throughput: await throughput(dir, options.alerts ?? 5000),
      live: await latency(dir, options.liveRate ?? 1000, options.liveSeconds ?? 15),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");
  console.log(JSON.stringify(await runDistributeBench(), null, 2));
  Deno.exit(0);
}
