/**
 * Worker entry of one plugin. The host starts it with the plugin's sandbox
 * permissions, then sends `probe` (report the manifest) or `run` (run `setup`,
 * then process batches one at a time). Batches arrive as Arrow IPC stream
 * bytes; rows go back checked against the declared outputs.
 *
 * apache-arrow and define.ts are imported statically here so that they are
 * already loaded when the plugin imports them: the Worker's own module graph
 * needs no read permission, only modules loaded later by `import()` do.
 */
/// <reference lib="deno.worker" />
import { tableFromIPC } from "apache-arrow";
import {
  checkOutputs,
  definePlugin,
  type OutputType,
  type PluginContext,
  type PluginManifest,
} from "./define.ts";
import {
  describeManifest,
  type FailurePhase,
  type HostMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { checkRows } from "./rows.ts";

let plugin: PluginManifest | undefined;
let context: PluginContext | undefined;
/** The outputs for this run's configuration (`outputsFor`), else the declared ones. */
let outputs: Record<string, OutputType> = {};

function send(message: WorkerMessage, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

function fail(phase: FailurePhase, error: unknown, seq?: number): void {
  const err = error instanceof Error ? error : new Error(String(error));
  send({ type: "failed", phase, seq, errorName: err.name, message: err.message });
}

async function load(url: string): Promise<PluginManifest> {
  const module = await import(url);
  if (module.default === undefined) {
    throw new Error(
      "The plugin file has no default export; end it with `export default definePlugin({...})`",
    );
  }
  return definePlugin(module.default);
}

async function handle(message: HostMessage): Promise<void> {
  if (message.type === "probe") {
    try {
      send({ type: "described", description: describeManifest(await load(message.url)) });
    } catch (error) {
      fail("load", error);
    }
    return;
  }
  if (message.type === "run") {
    try {
      plugin = await load(message.url);
    } catch (error) {
      fail("load", error);
      return;
    }
    const found = JSON.stringify(describeManifest(plugin));
    if (found !== JSON.stringify(message.expect)) {
      fail(
        "load",
        new Error("The plugin file changed while it was being loaded; it will be reloaded"),
      );
      return;
    }
    const name = plugin.name;
    context = {
      name,
      config: message.config,
      log(text, fields) {
        send({ type: "log", message: text, fields });
      },
    };
    try {
      await plugin.setup?.(context);
      outputs = plugin.outputsFor?.(message.config) ?? plugin.outputs;
      checkOutputs(name, outputs);
      const missing = Object.keys(plugin.outputs).filter((column) => !(column in outputs));
      if (missing.length > 0) {
        throw new Error(`outputsFor() left out declared outputs ${missing.join(", ")}`);
      }
    } catch (error) {
      fail("setup", error);
      return;
    }
    send(plugin.outputsFor ? { type: "ready", outputs } : { type: "ready" });
    return;
  }
  if (plugin === undefined || context === undefined) {
    fail("process", new Error("A batch arrived before the plugin was set up"), message.seq);
    return;
  }
  let returned: unknown;
  const started = performance.now();
  try {
    returned = await plugin.process(tableFromIPC(new Uint8Array(message.ipc)), context);
  } catch (error) {
    fail("process", error, message.seq);
    return;
  }
  const processMs = performance.now() - started;
  try {
    send({ type: "rows", seq: message.seq, rows: checkRows(returned, outputs), processMs });
  } catch (error) {
    fail("output", error, message.seq);
  }
}

// Messages are handled strictly in order: the host sends one batch at a time.
let chain: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<HostMessage>) => {
  chain = chain.then(() => handle(event.data));
};
