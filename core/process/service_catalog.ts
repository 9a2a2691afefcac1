/**
 * The services a process can run, and how the configuration builds each one.
 * Built-in: `simulator`, `archive`, `ui`, `distribute`; every `plugins/<name>.ts` file adds
 * a plugin service of that name. Heavy modules load only when started.
 */
import { basename, join } from "node:path";
import { type Config, ConfigError, type ConfigValue } from "../config/mod.ts";
import type { ServiceManager } from "../services/manager.ts";
import type { Service } from "../services/service.ts";
import type { PluginBus } from "../plugins/bus.ts";
import type { ArchiveService } from "../archive/service.ts";
import type { DistributionService } from "../distribution/service.ts";
import type { SimulatorDetails, SimulatorService } from "../../simulator/from_config.ts";
import { Ownership } from "../archive/ownership.ts";

/** Built-in service names, in the order they start. */
export const BUILTIN_SERVICES = ["simulator", "archive", "distribute", "ui"] as const;

/** What building the services needs besides the configuration. */
export interface ServiceContext {
  config: Config;
  /** Folder of .avro files to archive instead of Kafka (`--source files:PATH`). */
  source?: string;
  /**
   * The archive is about to be started on Kafka: plugins and distribution wait for its
   * partitions instead of working on every one meanwhile.
   */
  archiveStarts?: boolean;
}

/** Names a `start` command accepts: built-ins plus the plugin files present. */
export async function availableServices(config: Config): Promise<string[]> {
  return [...BUILTIN_SERVICES, ...(await pluginFiles(config.string("plugins.dir")))];
}

/** Plugin names: the `.ts` files of the plugin folder, without extension. */
export async function pluginFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".ts")) names.push(basename(entry.name, ".ts"));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** The keys `--simulator` changes so a service reads the simulator's stream. */
export function simulatorOverrides(config: Config): Record<string, ConfigValue> {
  if (config.number("simulator.port") === 0) {
    throw new ConfigError(
      "--simulator needs a fixed simulator.port (the archive connects to it), found 0; " +
        "choose a free port, e.g. --set simulator.port=19092",
    );
  }
  const encoding = config.string("simulator.encoding");
  const overrides: Record<string, ConfigValue> = {
    "kafka.brokers": [`${config.string("simulator.host")}:${config.number("simulator.port")}`],
    "kafka.topics": [config.string("simulator.topic")],
    "decode.mode": encoding,
  };
  if (encoding === "confluent") {
    overrides["decode.registry"] = `http://127.0.0.1:${config.number("simulator.registry_port")}`;
  }
  if (encoding === "schemaless") {
    // Where the simulator writes the schema it sends with (see simulator/mod.ts).
    overrides["decode.schema"] = join(
      config.string("simulator.data_dir"),
      "schemas",
      `${config.string("simulator.topic")}.avsc`,
    );
  }
  return overrides;
}

/** Services the process keeps a handle on. */
export interface ProcessServices {
  /** Closed with the process. */
  bus: PluginBus;
  /** Awaited with a files source, whose end ends the process. */
  archive: ArchiveService;
  /** The filters and their publication (`distribute`). */
  distribution: DistributionService;
}

/**
 * Registers every service of the process with the manager (plugins start as
 * the host loads them; the others wait for `start`).
 */
export async function registerServices(
  manager: ServiceManager,
  ctx: ServiceContext,
): Promise<ProcessServices> {
  manager.register(uiService());
  manager.register(simulatorService(ctx.config));
  // What the archive owns is what the plugins and the distribution work on.
  const ownership = new Ownership();
  if (ctx.archiveStarts === true && ctx.source === undefined) ownership.expectAssignment();
  const { registerPluginServices } = await import("../plugins/bus.ts");
  const bus = await registerPluginServices(manager, ctx.config, { ownership });
  const { createArchiveService } = await import("../archive/service.ts");
  const { createDistributionService } = await import("../distribution/service.ts");
  const distribution = createDistributionService(ctx.config, bus, { ownership });
  const archive = createArchiveService(ctx.config, {
    source: ctx.source,
    // The distribution first: it only keeps the batch's bytes (off local disk) and wakes its loop.
    consumers: [distribution, bus],
    onFailed: (reason) => manager.fail("archive", reason),
    ownership,
  });
  manager.register(archive);
  manager.register(distribution);
  return { bus, archive, distribution };
}

/** The API and dashboard run as long as the process does. */
function uiService(): Service {
  return {
    name: "ui",
    kind: "builtin",
    description: "HTTP API and dashboard (runs with the process)",
    permanent: true,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
}

function simulatorService(config: Config): Service<SimulatorDetails> {
  let sim: SimulatorService | null = null;
  return {
    name: "simulator",
    kind: "builtin",
    description: "Embedded Kafka-protocol broker and alert replayer",
    async start() {
      const { startSimulatorFromConfig } = await import("../../simulator/from_config.ts");
      sim = await startSimulatorFromConfig(config);
    },
    async stop() {
      await sim?.stop();
      sim = null;
    },
    details: () => sim?.details(),
  };
}
