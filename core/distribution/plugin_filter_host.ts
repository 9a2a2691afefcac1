/**
 * The filter plugins of the process's plugin bus, as the distribution asks
 * them: a batch goes to the plugin's process like any plugin batch (its
 * queue, CPU budget and restarts), and its rows come back to the asker
 * instead of a result file. No answer (the plugin's process died on the
 * batch, it was stopped, removed or failed, or `waitMs` passed) rejects with
 * the reason, so the distribution reports the filter and publishes the others.
 */
import type { PluginBatch } from "../plugins/host.ts";
import type { PluginEvent } from "../plugins/runner.ts";
import type { PluginBus } from "../plugins/bus.ts";
import type { FilterPlugin } from "./plugin_filters.ts";

/** States in which a filter plugin is asked (a stopped one is left out). */
const ASKED = ["starting", "running", "restarting", "failed"];
/** Events after which a plugin answers none of the batches it was given. */
const GONE = ["failed", "stopped", "removed"];

/** The filter plugins the bus has now, each asked through it. */
export function pluginFilters(bus: PluginBus, waitMs: number): () => FilterPlugin[] {
  return () =>
    bus.host.list().filter((p) => p.kind === "filter" && ASKED.includes(p.state)).map((p) => ({
      name: p.name,
      columns: p.columns,
      science: p.science ?? [],
      select: (batch) => ask(bus, p.name, batch, waitMs),
    }));
}

type Verdict = Awaited<ReturnType<FilterPlugin["select"]>>;

function ask(bus: PluginBus, name: string, batch: PluginBatch, waitMs: number): Promise<Verdict> {
  return new Promise<Verdict>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, verdict?: Verdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (error === null) resolve(verdict!);
      else reject(error);
    };
    const timer = setTimeout(
      () => finish(new Error(`filter plugin ${name} gave no answer within ${waitMs / 1000} s`)),
      waitMs,
    );
    const unsubscribe = bus.subscribe((event) => {
      if (event.plugin !== name || !(GONE.includes(event.event) || failedOn(event, batch))) return;
      finish(new Error(event.message ?? `filter plugin ${name} ${event.event}`));
    });
    const status = bus.host.list().find((p) => p.name === name);
    if (status?.state === "failed") {
      finish(new Error(status.lastError ?? `filter plugin ${name} failed`));
      return;
    }
    bus.host.ready(name).then(() => {
      if (settled) return;
      const report = bus.host.dispatch(batch, {
        to: [name],
        ticket: () => ({
          current: () => !settled,
          written: () => Promise.resolve(),
          deliver: (rows, failed) => {
            finish(null, { passed: rows.map((r) => r.id), failed });
            return Promise.resolve();
          },
        }),
      });
      if (report.queued.length === 0) {
        finish(new Error(`filter plugin ${name} took no batch: it is not running`));
      }
    });
  });
}

/** Whether the event reports the plugin's failure on this batch. */
function failedOn(event: PluginEvent, batch: PluginBatch): boolean {
  return event.event === "error" && event.topic === batch.topic &&
    event.partition === batch.partition && event.startOffset === String(batch.startOffset) &&
    event.endOffset === String(batch.endOffset);
}
