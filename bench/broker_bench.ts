/**
 * Throughput of the embedded broker through kafkajs on loopback with real ZTF
 * alerts (each Avro file is one message, cycled to reach the message count):
 * produce and consume MB/s and alerts/s, in memory and on disk.
 *
 * Run: deno run -A bench/broker_bench.ts [--messages 20000]
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../simulator/broker/mod.ts";
import { sharedData } from "../tests/shared_data.ts";

/** Options of {@link runBrokerBench}. */
export interface BrokerBenchOptions {
  /** Messages produced then consumed per mode (default 20000). */
  messages?: number;
  /** Partitions of the bench topic (default 4). */
  partitions?: number;
  /** Messages per producer.send call (default 200). */
  sendBatch?: number;
  /** Storage modes to measure (default both). */
  modes?: ("memory" | "disk")[];
  /**
   * Run the broker in a Worker (its own thread, as a separate broker process
   * would be) instead of sharing the client's event loop (default true).
   */
  brokerInWorker?: boolean;
}

interface BenchBroker {
  address: string;
  close(): Promise<void>;
}

async function startLocalBroker(dataDir: string | null, partitions: number): Promise<BenchBroker> {
  const broker = await startBroker({ port: 0, dataDir });
  broker.createTopic("bench", partitions);
  return broker;
}

/** Starts the broker in a Worker running this module, which answers with its address. */
function startWorkerBroker(dataDir: string | null, partitions: number): Promise<BenchBroker> {
  const worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(`Broker worker failed: ${e.message}`));
    worker.onmessage = (e) => {
      if (e.data.address) {
        resolve({
          address: e.data.address,
          close: () =>
            new Promise<void>((done) => {
              worker.onmessage = () => {
                worker.terminate();
                done();
              };
              worker.postMessage({ close: true });
            }),
        });
      }
    };
    worker.postMessage({ dataDir, partitions });
  });
}

const WORKER_NAME = "broker-bench-worker";

/** Throughput of one direction. */
export interface Throughput {
  messages: number;
  megabytes: number;
  seconds: number;
  mbPerSecond: number;
  alertsPerSecond: number;
}

/** Figures of one storage mode. */
export interface ModeResult {
  mode: "memory" | "disk";
  produce: Throughput;
  consume: Throughput;
}

/** Reads every ZTF alert file of the shared data (one Avro container each). */
export async function loadAlerts(): Promise<Buffer[]> {
  const root = sharedData("ztf", "alerts");
  const out: Buffer[] = [];
  const walk = async (dir: string) => {
    const entries = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    entries.sort((a, b) => a.name < b.name ? -1 : 1);
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".avro")) out.push(Buffer.from(await Deno.readFile(path)));
    }
  };
  await walk(root);
  if (out.length === 0) {
    throw new Error(`No .avro alert found under ${root}: expected the shared ZTF alerts`);
  }
  return out;
}

function throughput(messages: number, bytes: number, ms: number): Throughput {
  const seconds = ms / 1000;
  return {
    messages,
    megabytes: Math.round(bytes / 1e4) / 100,
    seconds: Math.round(seconds * 1000) / 1000,
    mbPerSecond: Math.round(bytes / 1e6 / seconds),
    alertsPerSecond: Math.round(messages / seconds),
  };
}

async function benchMode(
  mode: "memory" | "disk",
  alerts: Buffer[],
  options: Required<BrokerBenchOptions>,
): Promise<ModeResult> {
  const dataDir = mode === "disk" ? await Deno.makeTempDir({ prefix: "broker_bench_" }) : null;
  const broker = options.brokerInWorker
    ? await startWorkerBroker(dataDir, options.partitions)
    : await startLocalBroker(dataDir, options.partitions);
  try {
    const kafka = new Kafka({
      brokers: [broker.address],
      logLevel: logLevel.NOTHING,
      clientId: "bench",
    });
    const producer = kafka.producer();
    await producer.connect();
    let bytes = 0;
    let start = performance.now();
    // Several sends in flight, as a producing application would have, so that
    // kafkajs encodes the next request while the broker appends the last one.
    const inFlight: Promise<unknown>[] = [];
    for (let sent = 0; sent < options.messages; sent += options.sendBatch) {
      const n = Math.min(options.sendBatch, options.messages - sent);
      const messages = [];
      for (let i = 0; i < n; i++) {
        const value = alerts[(sent + i) % alerts.length];
        bytes += value.byteLength;
        messages.push({ value, partition: (sent + i) % options.partitions });
      }
      inFlight.push(producer.send({ topic: "bench", acks: 1, messages }));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const produce = throughput(options.messages, bytes, performance.now() - start);
    await producer.disconnect();

    const consumer = kafka.consumer({
      groupId: `bench-${mode}`,
      maxBytes: 64 * 1024 * 1024,
      maxBytesPerPartition: 16 * 1024 * 1024,
      maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: "bench", fromBeginning: true });
    let received = 0;
    let receivedBytes = 0;
    start = performance.now();
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          for (const m of batch.messages) receivedBytes += m.value?.byteLength ?? 0;
          received += batch.messages.length;
          if (received >= options.messages) resolve();
          return Promise.resolve();
        },
      }).catch(reject);
    });
    const consume = throughput(received, receivedBytes, performance.now() - start);
    await consumer.disconnect();
    return { mode, produce, consume };
  } finally {
    await broker.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
}

/** Measures produce and consume throughput through kafkajs for each storage mode. */
export async function runBrokerBench(options: BrokerBenchOptions = {}): Promise<{
  alertFiles: number;
  meanAlertBytes: number;
  results: ModeResult[];
}> {
  const full: Required<BrokerBenchOptions> = {
    messages: options.messages ?? 20_000,
    partitions: options.partitions ?? 4,
    sendBatch: options.sendBatch ?? 200,
    modes: options.modes ?? ["memory", "disk"],
    brokerInWorker: options.brokerInWorker ?? true,
  };
  const alerts = await loadAlerts();
  const results: ModeResult[] = [];
  for (const mode of full.modes) results.push(await benchMode(mode, alerts, full));
  const total = alerts.reduce((s, a) => s + a.byteLength, 0);
  return { alertFiles: alerts.length, meanAlertBytes: Math.round(total / alerts.length), results };
}

if ((globalThis as { name?: string }).name === WORKER_NAME) {
  const scope = globalThis as unknown as {
    onmessage: (e: MessageEvent) => void;
    postMessage: (m: unknown) => void;
  };
  let broker: Awaited<ReturnType<typeof startLocalBroker>> | null = null;
  scope.onmessage = async (e) => {
    if (e.data.close) {
      await broker?.close();
      scope.postMessage({ closed: true });
    } else {
      broker = await startLocalBroker(e.data.dataDir, e.data.partitions);
      scope.postMessage({ address: broker.address });
    }
  };
} else if (import.meta.main) {
  const i = Deno.args.indexOf("--messages");
  const messages = i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  console.log(JSON.stringify(await runBrokerBench({ messages }), null, 2));
}
