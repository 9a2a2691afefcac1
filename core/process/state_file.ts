/**
 * The running process leaves its API address and control token in a small
 * file, so that a later `deno task start|stop|status` acts on it instead of
 * starting a second process.
 */
import { join } from "node:path";
import { replaceFile } from "../storage/atomic_replace.ts";
import { LocalStorage } from "../storage/local.ts";

/** What the state file holds. */
export interface ProcessState {
  pid: number;
  /** Base URL of the API, e.g. http://127.0.0.1:5000 */
  url: string;
  /** Bearer token accepted by the control endpoints. */
  token: string;
  startedAt: string;
}

const FILE = "process.json";

/** Writes the state file (atomic replace), readable by the owner only. */
export async function writeProcessState(dir: string, state: ProcessState): Promise<void> {
  const storage = new LocalStorage(dir, { fileMode: 0o600 });
  await replaceFile(storage, FILE, new TextEncoder().encode(JSON.stringify(state, null, 2)));
}

/** Reads the state file; null when there is none or it is unreadable. */
export async function readProcessState(dir: string): Promise<ProcessState | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, FILE))) as ProcessState;
  } catch {
    return null;
  }
}

/** Removes the state file if it still names this process. */
export async function clearProcessState(dir: string, pid: number): Promise<void> {
  const state = await readProcessState(dir);
  if (state?.pid === pid) await Deno.remove(join(dir, FILE)).catch(() => {});
}

/**
 * The running process's state when its API answers, else null (a stale file
 * left by a killed process is ignored).
 */
export async function findRunningProcess(dir: string): Promise<ProcessState | null> {
  const state = await readProcessState(dir);
  if (state === null) return null;
  try {
    const res = await fetch(`${state.url}/api/status`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok ? state : null;
  } catch {
    return null;
  }
}
