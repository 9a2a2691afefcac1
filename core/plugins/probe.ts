/**
 * The load-time probe: the plugin file is imported in a process with no
 * permission but the read of its own code, which reports the manifest and
 * exits. Whatever the module's top-level code tries (read a file, import one
 * it may not read) fails there, so no content it could not read reaches a log,
 * the API or an error text. The manifest is checked here as `definePlugin`
 * checks it: frames from a plugin process are not trusted.
 */
import { definePlugin } from "./define.ts";
import { megabytes } from "./frames.ts";
import type { PluginProcess, PluginProcessOptions } from "./process.ts";
import { describeManifest, type PluginDescription } from "./protocol.ts";

/** What the probe listens to on its process. */
export type ProbeHandlers = Pick<PluginProcessOptions, "onMessage" | "onEnd" | "onOversized">;

/** Options of {@link probeManifest}. */
export interface ProbeOptions {
  /** Starts the plugin's process in `probe` mode, with no permission but its code. */
  start(handlers: ProbeHandlers): PluginProcess;
  /** How long the probe may take before it is ended. */
  timeoutMs: number;
}

/** A probe under way. */
export interface Probe {
  /** The manifest as the plugin's code reports it; rejects with why it could not be read. */
  manifest: Promise<PluginDescription>;
  /** Ends the probe; `manifest` rejects with "Loading was stopped" unless it settled already. */
  abort(): void;
}

/** Starts the probe of one plugin file; its process is killed once the manifest settles. */
export function probeManifest(options: ProbeOptions): Probe {
  const { promise, resolve, reject } = Promise.withResolvers<PluginDescription>();
  const timer = setTimeout(
    () => reject(new Error(`Loading took longer than ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  let probe: PluginProcess | undefined;
  try {
    probe = options.start({
      onMessage(message) {
        if (message.type === "described") {
          try {
            definePlugin({ ...message.description, process: () => [] });
            resolve(describeManifest(message.description));
          } catch (error) {
            reject(error);
          }
        }
        if (message.type === "failed") reject(new Error(message.message));
      },
      onEnd(end) {
        reject(new Error(`its process ${end.cause} while loading`));
      },
      onOversized(bytes) {
        reject(new Error(`its process sent ${megabytes(bytes)} MB while loading`));
      },
    });
  } catch (error) {
    reject(error);
  }
  const manifest = promise.finally(() => {
    clearTimeout(timer);
    probe?.kill();
  });
  return { manifest, abort: () => reject(new Error("Loading was stopped")) };
}
