/**
 * Starts the simulator as the `simulator` service: the configuration's
 * `simulator.*` keys turned into {@link startSimulator} options, with the
 * replay's progress line on stderr.
 */
import type { Config } from "../core/config/mod.ts";
import { logger } from "../core/log.ts";
import { startSimulator } from "./mod.ts";
import { progressPrinter, type ReplayStats } from "./replayer/progress.ts";

/** What the simulator service shows of itself. */
export interface SimulatorDetails {
  /** The embedded broker's address. */
  broker: string;
  /** Whether this process started the broker (false: one already answered there). */
  brokerStarted: boolean;
  /** The schema registry's URL (confluent encoding), else null. */
  registry: string | null;
  /** Where the schema of schemaless alerts is written, else null. */
  schemaPath: string | null;
  replay: ReplayStats;
}

/** A running simulator service. */
export interface SimulatorService {
  stop(): Promise<void>;
  details(): SimulatorDetails;
}

const log = logger("simulator");

/** Starts broker (unless one answers), registry (confluent) and replay from the configuration. */
export async function startSimulatorFromConfig(config: Config): Promise<SimulatorService> {
  const source = config.string("simulator.source");
  const observations = config.number("simulator.observations");
  const inMemory = config.bool("simulator.in_memory");
  const retentionMb = config.number("simulator.retention_mb");
  const retentionHours = config.number("simulator.retention_hours");
  const sim = await startSimulator({
    broker: {
      host: config.string("simulator.host"),
      port: config.number("simulator.port"),
      dataDir: inMemory ? null : config.string("simulator.data_dir"),
      inMemory,
      defaultPartitions: config.number("simulator.partitions"),
      retentionBytes: retentionMb < 0 ? -1 : retentionMb * 1024 * 1024,
      retentionMs: retentionHours < 0 ? -1 : retentionHours * 3_600_000,
      maxConnections: config.number("simulator.max_connections"),
      maxInflightBytes: config.number("simulator.max_inflight_mb") * 1024 * 1024,
      frameTimeoutMs: config.number("simulator.frame_timeout_s") * 1000,
    },
    registry: { port: config.number("simulator.registry_port") },
    replay: {
      topic: config.string("simulator.topic"),
      source,
      alertsPerObservation: config.number("simulator.alerts_per_observation"),
      observations: observations === 0 ? (source === "synthetic" ? Infinity : "all") : observations,
      intervalSeconds: config.number("simulator.interval_s"),
      partitions: config.number("simulator.partitions"),
      rate: config.number("simulator.rate"),
      burst: config.number("simulator.burst"),
      lateDays: config.number("simulator.late_days"),
      encoding: config.choice("simulator.encoding"),
      seed: config.number("simulator.seed"),
      onProgress: progressPrinter(),
      progressIntervalMs: 5000,
    },
    log: (entry) => log.info(String(entry.event ?? "event"), entry),
  });
  sim.done.then(
    (stats) => log.info("replay finished", { sent: stats.sent, topic: stats.topic }),
    (e) => log.error("replay failed", { error: e }),
  );
  return {
    stop: () => sim.stop(),
    details: () => ({
      broker: sim.brokerAddress,
      brokerStarted: sim.brokerStarted,
      registry: sim.registryUrl ?? null,
      schemaPath: sim.schemaPath ?? null,
      replay: sim.stats(),
    }),
  };
}
