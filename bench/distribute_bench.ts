/**
 * Distribution benchmark.
 *
 * - Throughput: an archive of `alerts` real ZTF alerts (the shared night,
 *   archived once, then copied with shifted offsets into files of 500, as
 *   the archive writes them) is distributed through one filter every alert
 *   passes (`where = "true"`) to the embedded broker, run in a process of its
 *   own as a Kafka would be, once with the output topic in 1 partition (the
 *   default of `distribution.partitions`) and once in 2 (which the broker
 *   writes at the same time): alerts/s filtered, encoded and published in
 *   transactions by the distribution's pipeline, with the CPU it used per
 *   alert (the distribution's process and the broker's). Each stage is then
 *   run alone over the same files for its CPU per alert: filter (DuckDB
 *   reading the file, the science join included), encode (reading and
 *   decoding the Parquet file and writing Avro, in the Workers), publish
 *   (kafkajs, transactions) and the broker receiving it. CPU time does not depend on what else runs on
 *   the machine, wall time does: the load average is printed with them.
 * - Latency: `start archive --simulator` with the distribution on, the
 *   simulator sending synthetic alerts at `liveRate` alerts/s; a kafkajs
 *   read_committed subscriber decodes each message (key = schema) and takes
 *   receive time minus the source message's `kafka_timestamp`. No plugins
 *   run, so no batch waits for science results.
 */
import { Buffer } from "node:buffer";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { avroType } from "../simulator/alerts/avro_type.ts";
import { LocalStorage } from "../core/storage/local.ts";
import { listArchivedFiles } from "../core/archive/reader.ts";
import { Distributor } from "../core/distribution/distributor.ts";
import { AlertEncoderPool } from "../core/distribution/encoder_pool.ts";
import type { EncodedAlerts } from "../core/distribution/alert_encoder.ts";
import { FilterEngine } from "../core/distribution/filter_engine.ts";
import { EMBEDDED_REQUEST_BYTES, TransactionalPublisher } from "../core/distribution/publisher.ts";
import { FilterCounters } from "../core/distribution/status.ts";
import { processCpuMs } from "../core/plugins/process.ts";
import { freePort } from "../tests/support/fink_process.ts";
import { archiveAlertFolder } from "../tests/support/sky_archive.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

/** Options of {@link runDistributeBench}. */
export interface DistributeBenchOptions {
  /** Alerts distributed in the throughput phase (default 20,000). */
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

/** An archive of `alerts` real alerts under `dir/archive` (topic `bench`, partition 0, files of 500). */
export async function buildArchive(dir: string, alerts: number): Promise<void> {
  await archiveAlertFolder(
    join(dir, "archive"),
    "bench",
    join(SHARED, "ztf/alerts/fink-broker-local-20200101"),
    { alerts, perBatch: 500 },
  );
}

/** CPU milliseconds a process (this one by default) has used, user + system. */
function cpuMs(pid = Deno.pid): number {
  return processCpuMs(pid) ?? 0;
}

/** The embedded broker in a process of its own (a Kafka beside the distribution). */
async function brokerProcess(
  dataDir: string,
): Promise<{ address: string; pid: number; close(): Promise<void> }> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { startBroker } from ${JSON.stringify(join(ROOT, "simulator/broker/mod.ts"))};
       await startBroker({ port: ${port}, dataDir: ${JSON.stringify(dataDir)} });`,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port);
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    async close() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

function perAlert(ms: number, alerts: number): number {
  return Math.round(ms / alerts * 1000) / 1000;
}

function load(): number[] {
  return loadavg().map((l) => Math.round(l * 10) / 10);
}

/** The throughput phase over the archive of `dir`, to a topic of `partitions` partitions. */
async function throughput(dir: string, partitions: number) {
  const archive = new LocalStorage(join(dir, "archive"));
  const science = new LocalStorage(join(dir, "science"));
  const broker = await brokerProcess(join(dir, `broker-${partitions}`));
  const connect = (name: string) =>
    TransactionalPublisher.connect({
      brokers: [broker.address],
      transactionalId: name,
      group: name,
      progressTopic: "bench_progress",
      partitions,
      requestBytes: EMBEDDED_REQUEST_BYTES,
    });
  const engine = await FilterEngine.open();
  const encoders = new AlertEncoderPool(availableParallelism());
  const all = [{ name: "all", where: "true", description: "" }];
  try {
    // The pipeline, as the distribute service runs it.
    const publisher = await connect("bench");
    const counters = new FilterCounters();
    const distributor = new Distributor({
      archive,
      science,
      sink: publisher,
      engine,
      encoders,
      filters: () => all,
      counters,
      topicOf: (name) => `fink_${name}_ztf`,
      absent: {},
      scienceWaitMs: 0,
      scienceProgress: () => Promise.resolve(null),
      onPublished: () => {},
      log: () => {},
    });
    const loadBefore = load();
    const [cpu0, broker0, workers0] = [cpuMs(), cpuMs(broker.pid), encoders.cpuMs];
    const t0 = performance.now();
    const read = await distributor.round();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMs() - cpu0;
    const brokerCpu = cpuMs(broker.pid) - broker0;
    const [figures] = counters.figures([{ name: "all", where: "true", topic: "" }]);
    await publisher.close();
    return {
      outputPartitions: partitions,
      alerts: read,
      published: figures.published,
      seconds: Math.round(seconds * 100) / 100,
      alertsPerSecond: Math.round(read / seconds),
      goalAlertsPerSecond: 5000,
      cpuMsPerAlert: {
        distribution: perAlert(cpu, read),
        ofWhichEncoderWorkers: perAlert(encoders.cpuMs - workers0, read),
        broker: perAlert(brokerCpu, read),
      },
      coresBusy: Math.round((cpu + brokerCpu) / (seconds * 1000) * 100) / 100,
      stagesCpuMsPerAlert: await stages(archive, engine, encoders, broker, await connect("stages")),
      loadAverage: { before: loadBefore, after: load() },
    };
  } finally {
    encoders.close();
    await engine.close();
    await broker.close();
    // Its pages freed, so that the next run does not find the page cache full of this one's.
    await Deno.remove(join(dir, `broker-${partitions}`), { recursive: true });
  }
}

/** Each stage alone over every file, in turn: its CPU per alert. */
async function stages(
  archive: LocalStorage,
  engine: FilterEngine,
  encoders: AlertEncoderPool,
  broker: { pid: number },
  publisher: TransactionalPublisher,
) {
  const files = await listArchivedFiles(archive, "bench");
  let cpu = cpuMs();
  const lap = () => {
    const now = cpuMs();
    const spent = now - cpu;
    cpu = now;
    return spent;
  };
  const paths = files.map((f) => join(archive.location, f.path));
  const evaluations = [];
  for (const local of paths) {
    evaluations.push(
      await engine.evaluate(
        { parquet: { local }, results: [], absent: {}, fromOffset: 0n, toOffset: 1n << 62n },
        [{ name: "all", where: "true", description: "" }],
      ),
    );
  }
  const alerts = evaluations.reduce((n, e) => n + e.rows.length, 0);
  const filter = lap();
  const workers0 = encoders.cpuMs;
  const encoded: EncodedAlerts[] = [];
  for (const [i, parquet] of paths.entries()) {
    const rows = evaluations[i].rows;
    encoded.push(
      await encoders.encode({ parquet, rows, scienceFields: [], scienceValues: [] }),
    );
  }
  const encode = lap();
  const encodeWorkers = encoders.cpuMs - workers0;
  const broker0 = cpuMs(broker.pid);
  for (const [i, e] of encoded.entries()) {
    const key = Buffer.from(e.key);
    const messages = Array.from(e.ends, (end, j) => ({
      topic: "fink_stages_ztf",
      key,
      value: e.data.subarray(j === 0 ? 0 : e.ends[j - 1], end),
      partitionKey: e.partitionKeys[j],
    }));
    await publisher.publish(messages, {
      topic: "bench",
      partition: 0,
      next: files[i].endOffset + 1n,
    });
  }
  const publish = lap();
  const brokerCpu = cpuMs(broker.pid) - broker0;
  await publisher.close();
  return {
    filter: perAlert(filter, alerts),
    encode: perAlert(encode, alerts),
    ofWhichEncoderWorkers: perAlert(encodeWorkers, alerts),
    publish: perAlert(publish, alerts),
    broker: perAlert(brokerCpu, alerts),
  };
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
    `--set=simulator.alerts_per_observation=${rate}`,
    "--set=simulator.interval_s=0",
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
      loadAverage: load(),
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
    await buildArchive(dir, options.alerts ?? 20_000);
    return {
      throughput: await throughput(dir, 1),
      throughputTwoPartitions: await throughput(dir, 2),
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
