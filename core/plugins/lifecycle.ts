/**
 * The states of one plugin's life (runner.ts) and every transition between
 * them. Each state carries only what exists in it: a process only while one
 * runs, the batch in flight only while processing, a restart timer only while
 * restarting. Leaving a state ends what it held (the runner's `#enter`). "With a
 * process" is settingUp, waiting and processing.
 *
 * | from                | to         | when                                                     |
 * | ------------------- | ---------- | -------------------------------------------------------- |
 * | any                 | probing    | `load()`: started, or its file appeared or changed       |
 * | any                 | stopped    | `stop()`, `close()`                                      |
 * | probing             | settingUp  | manifest read and accepted, and it is to run             |
 * | probing             | stopped    | accepted, not to run (a batch plugin, or no autoStart)   |
 * | probing             | failed     | probe failed; name reserved or taken; consent missing    |
 * | probing, restarting | failed     | its process cannot be started                            |
 * | settingUp           | waiting    | its process reported `ready`: `setup()` is done          |
 * | settingUp           | failed     | its process reported another manifest (file changed)     |
 * | settingUp           | restarting | `setup()` threw or took too long                         |
 * | waiting             | processing | the oldest wanted batch of the queue was sent            |
 * | processing          | waiting    | the batch's rows came back and were accepted             |
 * | processing          | restarting | budget overrun; bad or too many rows; `process()` failed |
 * | with a process      | restarting | its process ended (exit, signal, heap limit)             |
 * | with a process      | failed     | its process could not import the plugin                  |
 * | restarting          | settingUp  | the backoff delay passed: a new process starts           |
 *
 * The queue lives beside the states (batches wait through starting and
 * restarting) and is emptied on entering probing, stopped or failed.
 */
import type { QueuedBatch } from "./batch_queue.ts";
import type { BudgetWatch } from "./cpu_budget.ts";
import type { PluginProcess } from "./process.ts";

/** Lifecycle state of a plugin, as `list()` shows it. */
export type PluginState = "starting" | "running" | "stopped" | "failed" | "restarting";

/** Its manifest is being read by a probe process with no permission but its code (probe.ts). */
export interface Probing {
  name: "probing";
  /** Ends the probe: the load it belongs to gives up. */
  abort(): void;
}

/** Its sandboxed process runs and has not finished `setup()` yet. */
export interface SettingUp {
  name: "settingUp";
  process: PluginProcess;
  /** Ends the process when `setup()` takes too long. */
  deadline: ReturnType<typeof setTimeout>;
}

/** Set up, with no batch in flight: the next one from the queue goes as soon as there is one. */
export interface Waiting {
  name: "waiting";
  process: PluginProcess;
}

/** One batch sent to the process, its rows not back yet. */
export interface Processing {
  name: "processing";
  process: PluginProcess;
  batch: QueuedBatch;
  /** When the batch was sent (`performance.now()`). */
  sentAt: number;
  /** Ends the process if the batch overruns its CPU budget (cpu_budget.ts). */
  watch: BudgetWatch;
}

/** Its process was killed after a failure; `timer` starts the next one after the backoff delay. */
export interface Restarting {
  name: "restarting";
  timer: ReturnType<typeof setTimeout>;
}

/** Not running, until `load()`. */
export interface Stopped {
  name: "stopped";
}

/** Refused or broken at load: stays so until its file changes or `start(name)` is called. */
export interface Failed {
  name: "failed";
}

/** Where one plugin is in its life; see the module documentation for the transitions. */
export type Phase = Probing | SettingUp | Waiting | Processing | Restarting | Stopped | Failed;

/** The states in which its process runs. */
export type WithProcess = SettingUp | Waiting | Processing;

/** The state `list()` shows for a phase. */
export function pluginState(phase: Phase): PluginState {
  switch (phase.name) {
    case "probing":
    case "settingUp":
      return "starting";
    case "waiting":
    case "processing":
      return "running";
    default:
      return phase.name;
  }
}

/** Whether the phase holds a running process. */
export function hasProcess(phase: Phase): phase is WithProcess {
  return phase.name === "settingUp" || phase.name === "waiting" || phase.name === "processing";
}

/** Whether it takes batches in this phase: they wait in its queue until a process takes them. */
export function takesBatches(phase: Phase): boolean {
  return hasProcess(phase) || phase.name === "restarting";
}

/**
 * Whether it is getting on with its queue: a restarting plugin may never
 * recover, so what waits in its queue does not keep the host from being idle.
 */
export function progressing(phase: Phase): boolean {
  return hasProcess(phase) || phase.name === "probing";
}

/** Whether entering this phase empties the queue: what waits there would never be processed. */
export function dropsQueue(phase: Phase): boolean {
  return phase.name === "probing" || phase.name === "stopped" || phase.name === "failed";
}
