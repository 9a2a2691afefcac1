/**
 * Parses the command line: `start <service>`, `stop [service]`, `status`, with
 * `--simulator`, `--config FILE`, `--set key=value` (repeatable), `--source
 * files:PATH`, `--hours RANGE` and `--json`.
 */
import { parseArgs } from "node:util";

/** A parsed command line. */
export interface Command {
  command: "start" | "stop" | "status" | "help";
  service?: string;
  simulator: boolean;
  config?: string;
  sets: string[];
  source?: string;
  /** `start <batch plugin> --hours FROM..TO`: run it over these archived hours. */
  hours?: string;
  json: boolean;
}

/** Thrown for a command line that cannot be understood; exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Text printed by `--help` and after a usage error. */
export const USAGE = `Usage:
  deno task start <service> [--simulator] [--config FILE] [--set key=value]... [--source files:PATH]
  deno task start <batch plugin> --hours YYYY/MM/dd/hh..YYYY/MM/dd/hh
  deno task stop [service]          (no service: every service and the process)
  deno task status [--json]
Flags:
  --simulator        point the service at the embedded simulator (started when none runs)
  --config FILE      configuration file (default conf/fink.toml)
  --set key=value    override one configuration key (repeatable)
  --source files:PATH  archive a folder of .avro/.avro.gz files instead of Kafka
  --hours FROM..TO   run a batch plugin over these archived UTC hours, both included
                     (e.g. 2020/01/01/00..2020/01/01/23, or one hour); in the running
                     process if there is one, else here, printing progress
  --json             status as JSON`;

const COMMANDS = ["start", "stop", "status", "help"] as const;

/** Parses `Deno.args` (after the task name). */
export function parseCommand(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        simulator: { type: "boolean", default: false },
        config: { type: "string" },
        set: { type: "string", multiple: true, default: [] },
        source: { type: "string" },
        hours: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const { values, positionals } = parsed;
  const [command = "help", service, ...extra] = positionals;
  if (values.help || command === "help") return { ...base(values), command: "help" };
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(`Unknown command "${command}"; commands are start, stop, status`);
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`);
  if (command === "start" && service === undefined) {
    throw new UsageError("start needs a service name, e.g. deno task start archive");
  }
  if (command === "status" && service !== undefined) {
    throw new UsageError(`status takes no service name, found "${service}"`);
  }
  if (values.hours !== undefined && command !== "start") {
    throw new UsageError(`--hours goes with start, e.g. deno task start myplugin --hours A..B`);
  }
  if (values.hours !== undefined && values.source !== undefined) {
    throw new UsageError("--hours runs a plugin over the archive; it takes no --source");
  }
  if (values.source !== undefined && !values.source.startsWith("files:")) {
    throw new UsageError(`--source expects files:PATH, found "${values.source}"`);
  }
  return { ...base(values), command: command as Command["command"], service };
}

function base(values: Record<string, unknown>): Omit<Command, "command"> {
  return {
    simulator: values.simulator as boolean,
    config: values.config as string | undefined,
    sets: values.set as string[],
    source: values.source as string | undefined,
    hours: values.hours as string | undefined,
    json: values.json as boolean,
  };
}
