/**
 * How a plugin's failures are worded for an operator: every text names the
 * plugin, says what happened and, where there is one, what to do. Texts that
 * reach the API (`lastError`, events) are one line.
 */
import { formatTopicPartition, type TopicPartition } from "../source/topic_partition.ts";
import type { ProcessEnd } from "./process.ts";
import { describeDenial } from "./sandbox.ts";

/** The offsets that name a batch of one topic-partition (as events carry them: strings). */
export interface BatchRange extends TopicPartition {
  startOffset: number | bigint | string;
  endOffset: number | bigint | string;
}

/** An error text as the API shows it: its first line, at most 500 characters. */
export function oneLine(text: string): string {
  const line = text.split("\n")[0];
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/**
 * `<topic>+<partition>+<start>+<end>`, as batches are named in texts and events
 * (and the stream feed knows its queued batches by).
 */
export function batchLabel(batch: BatchRange): string {
  return `${formatTopicPartition(batch)}+${batch.startOffset}+${batch.endOffset}`;
}

/** Why a plugin file could not be loaded (probe, name, consent, import in its process). */
export function loadFailureText(plugin: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const denial = describeDenial(plugin, message);
  if (denial !== undefined) {
    return oneLine(
      `${denial}; module top-level code runs without permissions, do I/O in setup()`,
    );
  }
  return oneLine(`plugin ${plugin} failed to load: ${message}`);
}

/** What its process reported failing: `setup()` or `process()` threw, or the rows were invalid. */
export function processFailureText(
  plugin: string,
  failure: { phase: string; errorName: string; message: string },
): string {
  const denial = describeDenial(plugin, failure.message);
  if (denial !== undefined) return denial;
  const what = failure.phase === "setup"
    ? "setup() threw"
    : failure.phase === "output"
    ? "process() returned invalid rows"
    : "process() threw";
  return `plugin ${plugin}: ${what}: ${failure.errorName}: ${failure.message}`;
}

/**
 * Its process ended on its own: the real cause and the phase it was in, with
 * the setting to raise when the heap limit was reached.
 */
export function processEndText(
  plugin: string,
  end: ProcessEnd,
  during: { settingUp: boolean; batch?: BatchRange },
): string {
  const phase = during.settingUp
    ? " during setup()"
    : during.batch === undefined
    ? ""
    : ` while processing batch ${batchLabel(during.batch)}`;
  const advice = end.cause.startsWith("reached its heap limit")
    ? `; set memory_mb under [plugins.${plugin}] to raise it`
    : "";
  return `plugin ${plugin}: its process ${end.cause}${phase}${advice}`;
}

/** A result over `plugins.max_result_mb`; `what` says how it was found. */
export function oversizedText(plugin: string, what: string, maxResultBytes: number): string {
  const limit = Math.round(maxResultBytes / 1_048_576);
  return `plugin ${plugin}: ${what} for one batch, more than the limit of ${limit} MB ` +
    `(plugins.max_result_mb); its process was killed`;
}

/** A batch that used up its CPU budget, or the wall-clock limit (see cpu_budget.ts). */
export function overrunText(
  plugin: string,
  batch: BatchRange,
  overrun: { limit: "cpu" | "wall"; limitMs: number; cpuMs: number },
): string {
  const used = Math.round(overrun.cpuMs);
  return overrun.limit === "cpu"
    ? `plugin ${plugin}: batch ${batchLabel(batch)} exceeded its CPU budget of ` +
      `${overrun.limitMs} ms (${used} ms used); its process was killed`
    : `plugin ${plugin}: batch ${batchLabel(batch)} took longer than ${overrun.limitMs} ms of ` +
      `wall-clock time (${used} ms of CPU); its process was killed`;
}

/** `setup()` did not finish in time. */
export function setupTimeoutText(plugin: string, timeoutMs: number): string {
  return `plugin ${plugin}: setup() took longer than ${timeoutMs} ms; its process was killed`;
}

/** Deno could not start its process at all. */
export function spawnFailureText(plugin: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `plugin ${plugin}: cannot start its process: ${message}`;
}

/** The manifest its process reported is not the one probed: the file changed meanwhile. */
export function manifestChangedText(plugin: string): string {
  return `plugin ${plugin}: the plugin file changed while it was being loaded; ` +
    `it will be reloaded`;
}
