/**
 * Throughput of the archive's encode stage (decode + Arrow + Parquet) on the
 * real ZTF alerts of the shared data, cycled to N messages: single-thread
 * (in-process `encodeBatch`) and with the Worker pool.
 *
 * By default every ZTF alert file is cycled in folder order, so each batch
 * mixes six writer schemas and the 18 hours of the 2023 set: about 140 small
 * Parquet files per 1,000 messages, each with ~3 ms of fixed Arrow/Parquet
 * overhead. A live ZTF partition has one schema and one or two hours per
 * batch; `--dir` with one night's folder measures that case:
 * `--dir ../shared/data/ztf/alerts/fink-broker-local-20200101` (50 real
 * alerts of one hour, cycled; a repeat is ~3 MB away, beyond LZ4's window, so
 * repeats do not compress away).
 *
 * Run directly to print JSON:
 * `deno run -A bench/encode_bench.ts [--messages 20000] [--batch 1000] [--workers 2] [--dir D]`.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeBatch, type RawMessage } from "../core/archive/encoder.ts";
import { EncoderPool } from "../core/archive/encoder_pool.ts";
import { sharedData } from "../tests/shared_data.ts";

/** What to measure. */
export interface EncodeBenchOptions {
  /** Messages per run (default 20,000). */
  messages?: number;
  /** Messages per batch (default 1,000). */
  batchSize?: number;
  /** Pool workers (default: the pool's default, the number of cores). */
  workers?: number;
  /** Folder of `.avro` alerts, searched recursively (default: the shared ZTF alerts). */
  alertsDir?: string;
}

/** One measured run. */
export interface EncodeBenchRun {
  mode: "single" | "pool";
  workers: number;
  messages: number;
  seconds: number;
  alertsPerSecond: number;
  megabytesPerSecond: number;
  /** Process CPU seconds (all threads) per message, as alerts per CPU-second. */
  alertsPerCpuSecond: number;
  parquetMegabytes: number;
  files: number;
  quarantined: number;
}

/** The whole benchmark result. */
export interface EncodeBenchResult {
  alertsDir: string;
  sourceFiles: number;
  inputMegabytes: number;
  runs: EncodeBenchRun[];
}

/** Runs the benchmark single-threaded, then with the pool. */
export async function runEncodeBench(options: EncodeBenchOptions = {}): Promise<EncodeBenchResult> {
  const total = options.messages ?? 20_000;
  const batchSize = options.batchSize ?? 1_000;
  const alertsDir = options.alertsDir ?? sharedData("ztf/alerts");
  const alerts = readAlerts(alertsDir);
  if (alerts.length === 0) throw new Error(`No .avro alerts found under ${alertsDir}`);
  const batches: RawMessage[][] = [];
  let inputBytes = 0;
  for (let first = 0; first < total; first += batchSize) {
    const batch: RawMessage[] = [];
    for (let i = first; i < Math.min(total, first + batchSize); i++) {
      const value = alerts[i % alerts.length];
      inputBytes += value.length;
      batch.push({
        topic: "ztf",
        partition: 0,
        offset: BigInt(i),
        timestamp: 1_700_000_000_000,
        value,
      });
    }
    batches.push(batch);
  }
  const runs: EncodeBenchRun[] = [];
  await encodeBatch(batches[0]);
  runs.push(
    await measure("single", 1, total, inputBytes, async () => {
      const results = [];
      for (const batch of batches) results.push(await encodeBatch(batch));
      return results;
    }),
  );
  const pool = new EncoderPool({ workers: options.workers });
  try {
    await Promise.all(Array.from({ length: pool.size }, () => pool.encode(batches[0])));
    runs.push(
      await measure(
        "pool",
        pool.size,
        total,
        inputBytes,
        () => Promise.all(batches.map((batch) => pool.encode(batch))),
      ),
    );
  } finally {
    await pool.close();
  }
  return { alertsDir, sourceFiles: alerts.length, inputMegabytes: round(inputBytes / 1e6), runs };
}

async function measure(
  mode: "single" | "pool",
  workers: number,
  messages: number,
  inputBytes: number,
  run: () => Promise<Awaited<ReturnType<typeof encodeBatch>>[]>,
): Promise<EncodeBenchRun> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const files = results.flatMap((r) => r.files);
  return {
    mode,
    workers,
    messages,
    seconds: round(seconds),
    alertsPerSecond: Math.round(messages / seconds),
    megabytesPerSecond: round(inputBytes / 1e6 / seconds),
    alertsPerCpuSecond: Math.round(messages / cpuSeconds),
    parquetMegabytes: round(files.reduce((n, f) => n + f.bytes.length, 0) / 1e6),
    files: files.length,
    quarantined: results.reduce((n, r) => n + r.quarantined.length, 0),
  };
}

function readAlerts(dir: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const entries = [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...readAlerts(path));
    else if (entry.name.endsWith(".avro")) out.push(Deno.readFileSync(path));
  }
  return out;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      messages: { type: "string" },
      batch: { type: "string" },
      workers: { type: "string" },
      dir: { type: "string" },
    },
  });
  const result = await runEncodeBench({
    messages: args.values.messages ? Number(args.values.messages) : undefined,
    batchSize: args.values.batch ? Number(args.values.batch) : undefined,
    workers: args.values.workers ? Number(args.values.workers) : undefined,
    alertsDir: args.values.dir,
  });
  console.log(JSON.stringify(result, null, 2));
}
