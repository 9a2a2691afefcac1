/**
 * The stream simulator: an embedded Kafka-protocol broker (unless one already answers
 * on the configured address), a schema registry for the `confluent` encoding, and the
 * alert replayer producing real or synthetic alerts into it.
 */
import { join } from "node:path";
import { startBroker } from "./broker/mod.ts";
import { type Registry, startRegistry } from "./registry/mod.ts";
import { replay, type ReplayOptions, type ReplayStats } from "./replayer/mod.ts";

export { type ReplayOptions, type ReplayStats } from "./replayer/mod.ts";

/** Options of {@link startSimulator}. */
export interface SimulatorOptions {
  /** Embedded broker: address to serve (default 127.0.0.1:9092, port 0 = free port) and storage. */
  broker?: {
    host?: string;
    port?: number;
    /** Folder of topic logs, registry file and schemaless `.avsc`; ignored when `inMemory`. */
    dataDir?: string | null;
    /** Keep everything in memory (default true when no dataDir is given). */
    inMemory?: boolean;
    /** Partitions of topics auto-created by consumers (default 1). */
    defaultPartitions?: number;
    /** Per-partition size retention in bytes (-1: none, the default). */
    retentionBytes?: number;
    /** Age retention in ms (-1: none, the default). */
    retentionMs?: number;
    /** Limits against hostile or runaway clients (see `BrokerOptions`). */
    maxConnections?: number;
    maxInflightBytes?: number;
    frameTimeoutMs?: number;
  };
  /** Schema registry started for the `confluent` encoding when `replay.registryUrl` is absent. */
  registry?: { port?: number };
  /** Replay settings; `brokers` defaults to the simulator's broker. */
  replay: Omit<ReplayOptions, "brokers"> & { brokers?: ReplayOptions["brokers"] };
  /** Receives structured log entries (default: one JSON line on stderr each). */
  log?: (entry: Record<string, unknown>) => void;
}

/** A running simulator. */
export interface Simulator {
  /** `host:port` of the Kafka broker alerts go to. */
  brokerAddress: string;
  /** True when this simulator started the embedded broker (and will close it). */
  brokerStarted: boolean;
  /** Schema registry URL (confluent encoding). */
  registryUrl?: string;
  /** Writer schema file (schemaless encoding). */
  schemaPath?: string;
  /** Current replay statistics. */
  stats(): ReplayStats;
  /** Resolves when the replay ends; the broker and registry keep serving until `stop()`. */
  done: Promise<ReplayStats>;
  /** Stops the replay, then closes the registry and broker this simulator started. */
  stop(): Promise<void>;
}

function defaultLog(entry: Record<string, unknown>): void {
  console.error(JSON.stringify(entry));
}

/** Whether something accepts TCP connections at host:port (within a short timeout). */
async function answers(host: string, port: number): Promise<boolean> {
  const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  try {
    const connection = await Deno.connect({
      hostname: target,
      port,
      signal: AbortSignal.timeout(1000),
    });
    connection.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the broker (if needed), the registry (if needed) and the replay; resolves once
 * the replay is ready to send. On failure everything started is closed again.
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const log = options.log ?? defaultLog;
  const host = options.broker?.host ?? "127.0.0.1";
  const port = options.broker?.port ?? 9092;
  const dataDir = options.broker?.inMemory ? null : options.broker?.dataDir ?? null;
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  try {
    let brokerAddress: string;
    let brokerStarted = false;
    if (options.replay.brokers !== undefined) {
      brokerAddress = [options.replay.brokers].flat().join(",");
    } else if (port !== 0 && await answers(host, port)) {
      brokerAddress = `${host}:${port}`;
      log({ component: "simulator", event: "broker_reused", address: brokerAddress });
    } else {
      const broker = await startBroker({
        host,
        port,
        dataDir,
        defaultPartitions: options.broker?.defaultPartitions ?? 1,
        autoCreateTopics: true,
        retentionBytes: options.broker?.retentionBytes ?? -1,
        retentionMs: options.broker?.retentionMs ?? -1,
        maxConnections: options.broker?.maxConnections,
        maxInflightBytes: options.broker?.maxInflightBytes,
        frameTimeoutMs: options.broker?.frameTimeoutMs,
      });
      cleanups.push(() => broker.close());
      brokerAddress = broker.address;
      brokerStarted = true;
      log({ component: "simulator", event: "broker_started", address: brokerAddress, dataDir });
    }
    let registry: Registry | null = null;
    let registryUrl = options.replay.registryUrl;
    if (options.replay.encoding === "confluent" && registryUrl === undefined) {
      registry = await startRegistry({ port: options.registry?.port ?? 0, dataDir });
      cleanups.push(() => registry!.close());
      registryUrl = registry.url;
      log({ component: "simulator", event: "registry_started", url: registryUrl });
    }
    const schemaPath = options.replay.schemaPath ??
      (options.replay.encoding === "schemaless" && dataDir
        ? join(dataDir, "schemas", `${options.replay.topic}.avsc`)
        : undefined);
    const running = replay({ ...options.replay, brokers: brokerAddress, registryUrl, schemaPath });
    cleanups.push(() => running.stop());
    const ready = await running.ready;
    log({
      component: "simulator",
      event: "replay_started",
      topic: ready.topic,
      encoding: ready.encoding,
      total: ready.total,
    });
    return {
      brokerAddress,
      brokerStarted,
      registryUrl,
      schemaPath: ready.schemaPath ?? undefined,
      stats: running.stats,
      done: running.done,
      stop: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
