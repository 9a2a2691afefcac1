/**
 * The Fink processes a benchmark starts and watches: spawned from this
 * checkout with their own state folder, their status read from their API.
 */
import { fileURLToPath } from "node:url";
import type { ArchiveSnapshot } from "../core/archive/service.ts";
import { readProcessState } from "../core/process/state_file.ts";
import { launch } from "../tests/support/chromium.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The shared data folder (`FINK_SHARED_DATA`, or `../shared/data` beside the checkout). */
export const SHARED = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

/** Starts `main.ts` with `args`, its state in `stateDir`, its API on a free port. */
export function spawnFink(args: string[], stateDir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      ...args,
      `--set=process.state_dir=${stateDir}`,
      "--set=ui.port=0",
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** One service of a process's status document. */
export interface ServiceStatus {
  name: string;
  state: string;
  error?: string;
  details?: unknown;
}

/** The process's services, or null while it does not answer. */
export async function services(stateDir: string): Promise<ServiceStatus[] | null> {
  const state = await readProcessState(stateDir);
  if (state === null) return null;
  try {
    const doc = await (await fetch(`${state.url}/api/status`)).json();
    return doc.services ?? null;
  } catch {
    return null;
  }
}

/** The archive's status details (figures and stages), or null while it does not answer. */
export async function archiveStatus(stateDir: string): Promise<ArchiveSnapshot | null> {
  const archive = (await services(stateDir))?.find((s) => s.name === "archive");
  return (archive?.details as ArchiveSnapshot | undefined) ?? null;
}

/** Polls `probe` until it gives a value; throws after `timeoutMs` naming `what`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Benchmark gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The process's peak resident memory (VmHWM, Workers included), MB. */
export async function peakMemoryMB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024);
}

/** Opens `live.html` of the process in headless Chromium, as an operator would leave it. */
export async function openLivePage(stateDir: string): Promise<{ close(): Promise<void> }> {
  const state = await until("the archive's API", () => readProcessState(stateDir), 60_000);
  const browser = await launch();
  const tab = await browser.context.newPage();
  await tab.goto(`${state.url}/live.html`);
  return browser;
}

/** Stops the children (SIGTERM) and waits for each. */
export async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  }
}
