/**
 * Entry of a plugin process (started by process.ts with the plugin's own Deno
 * permissions): `deno run <flags> child.ts <plugin URL> probe|run`.
 *
 * It imports the plugin (Deno checks read permission on every file that import
 * loads, so a plugin cannot import what it may not read), reports its manifest,
 * and in `run` mode waits for `setup`, then processes one batch at a time.
 * Frames (frames.ts) go in on stdin and out on stdout; the plugin's console
 * output goes to stderr so it cannot garble them.
 *
 * apache-arrow and define.ts are imported statically so that they are loaded
 * before the plugin, which then shares them.
 */
import { type Table, tableFromIPC, tableToIPC } from "apache-arrow";
import {
  checkOutputs,
  definePlugin,
  type OutputType,
  type PluginContext,
  type PluginManifest,
  type PluginRow,
} from "./define.ts";
import { encodeFrame, megabytes, readFrames } from "./frames.ts";
import {
  type AlertFailure,
  describeManifest,
  type FailurePhase,
  type HostMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { rowsToTable } from "./result_table.ts";
import { checkRows } from "./rows.ts";

for (const method of ["log", "info", "debug", "warn", "table", "dir"] as const) {
  (console as unknown as Record<string, unknown>)[method] = console.error;
}

let writes: Promise<void> = Promise.resolve();

function send(message: WorkerMessage, payload?: Uint8Array): Promise<void> {
  const bytes = encodeFrame(message, payload);
  writes = writes.then(async () => {
    let written = 0;
    while (written < bytes.byteLength) written += await Deno.stdout.write(bytes.subarray(written));
  });
  return writes;
}

function fail(phase: FailurePhase, error: unknown, seq?: number): Promise<void> {
  const err = error instanceof Error ? error : new Error(String(error));
  return send({ type: "failed", phase, seq, errorName: err.name, message: err.message });
}

/** Raised for rows that break the declared outputs: a plugin bug, not an alert's fault. */
class OutputError extends Error {}

function isDenial(error: unknown): boolean {
  return error instanceof Error &&
    (error.name === "NotCapable" || error.name === "PermissionDenied" ||
      /Requires \w+ access/.test(error.message));
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const line = text.split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * Runs `process` on `table`; when it throws, runs it again on each half, down to single alerts,
 * so the alerts it can handle still get results and the others are named with the reason.
 */
async function processIsolating(
  run: { plugin: PluginManifest; context: PluginContext; outputs: Record<string, OutputType> },
  table: Table,
  first: number,
  out: { rows: PluginRow[]; failures: AlertFailure[] },
): Promise<void> {
  const { plugin, context, outputs } = run;
  let returned: unknown;
  try {
    returned = await plugin.process(table, context);
  } catch (error) {
    if (isDenial(error)) throw error;
    if (table.numRows <= 1) {
      out.failures.push({ row: first, reason: oneLine(error) });
      return;
    }
    const half = Math.ceil(table.numRows / 2);
    await processIsolating(run, table.slice(0, half), first, out);
    await processIsolating(run, table.slice(half), first + half, out);
    return;
  }
  try {
    out.rows.push(...checkRows(returned, outputs));
  } catch (error) {
    throw new OutputError((error as Error).message);
  }
}

/**
 * A lower bound of the bytes checked rows (every declared column present) take as Arrow
 * columns: 8 per number, boolean or null, its length per string.
 */
function resultBytes(rows: PluginRow[], outputs: Record<string, OutputType>): number {
  const text = Object.keys(outputs).filter((column) => outputs[column] === "string");
  let bytes = rows.length * 8 * (1 + Object.keys(outputs).length - text.length);
  for (const column of text) {
    for (const row of rows) {
      const value = row[column];
      bytes += typeof value === "string" ? value.length : 8;
    }
  }
  return bytes;
}

async function main(): Promise<void> {
  const [url, mode] = Deno.args;
  let plugin: PluginManifest;
  try {
    const module = await import(url);
    if (module.default === undefined) {
      throw new Error(
        "The plugin file has no default export; end it with `export default definePlugin({...})`",
      );
    }
    plugin = definePlugin(module.default);
  } catch (error) {
    await fail("load", error);
    return;
  }
  await send({ type: "described", description: describeManifest(plugin) });
  if (mode === "probe") return;
  let context: PluginContext | undefined;
  /** The outputs for this run's configuration (`outputsFor`), else the declared ones. */
  let outputs: Record<string, OutputType> = plugin.outputs;
  let maxResultBytes = Infinity;
  for await (const { message, payload } of readFrames<HostMessage>(Deno.stdin.readable)) {
    if (message.type === "setup") {
      maxResultBytes = message.maxResultBytes;
      context = {
        name: plugin.name,
        config: message.config,
        log(text, fields) {
          send({ type: "log", message: String(text), fields });
        },
      };
      try {
        await plugin.setup?.(context);
        outputs = plugin.outputsFor?.(message.config) ?? plugin.outputs;
        checkOutputs(plugin.name, outputs);
        const missing = Object.keys(plugin.outputs).filter((column) => !(column in outputs));
        if (missing.length > 0) {
          throw new Error(`outputsFor() left out declared outputs ${missing.join(", ")}`);
        }
      } catch (error) {
        await fail("setup", error);
        return;
      }
      await send(plugin.outputsFor ? { type: "ready", outputs } : { type: "ready" });
      continue;
    }
    if (context === undefined) {
      await fail("process", new Error("A batch arrived before setup"), message.seq);
      return;
    }
    const started = performance.now();
    const out = { rows: [] as PluginRow[], failures: [] as AlertFailure[] };
    try {
      await processIsolating({ plugin, context, outputs }, tableFromIPC(payload), 0, out);
    } catch (error) {
      await fail(error instanceof OutputError ? "output" : "process", error, message.seq);
      continue;
    }
    const processMs = performance.now() - started;
    // Checked before the table is built, which would take long for a result the host refuses.
    const bytes = resultBytes(out.rows, outputs);
    if (bytes > maxResultBytes) {
      await fail("oversized", new Error(`returned ${megabytes(bytes)} MB of results`), message.seq);
      continue;
    }
    const ipc = tableToIPC(rowsToTable(out.rows, outputs), "stream");
    await send({ type: "rows", seq: message.seq, processMs, failures: out.failures }, ipc);
  }
}

await main();
await writes;
// The plugin may have left timers or sockets open; its work is done.
Deno.exit(0);
