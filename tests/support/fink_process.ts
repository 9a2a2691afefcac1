/**
 * Running the CLI as a user does, in child processes: shared by the tests that
 * start, stop and query a real process.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type ProcessState, readProcessState } from "../../core/process/state_file.ts";
import { waitFor } from "./wait.ts";

/** The project root, where `main.ts` is. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What a CLI command printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A port free right now on 127.0.0.1 (the simulator's broker must be known before it starts). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Options of {@link stopProcess}. */
export interface StopOptions {
  /** SIGKILL after this long: a hang guard. Default 30,000 ms. */
  killAfterMs?: number;
}

/** Asks the process to shut down through its API (SIGTERM if that fails); SIGKILL after a bound. */
export async function stopProcess(
  child: Deno.ChildProcess,
  stateDir: string,
  options: StopOptions = {},
): Promise<void> {
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // It exited meanwhile.
    }
  };
  const state = await readProcessState(stateDir);
  const res = state === null ? null : await fetch(`${state.url}/api/shutdown`, {
    method: "POST",
    headers: { authorization: `Bearer ${state.token}` },
  }).catch(() => null);
  await res?.body?.cancel();
  if (res?.ok !== true) signal("SIGTERM");
  const kill = setTimeout(() => signal("SIGKILL"), options.killAfterMs ?? 30_000);
  await child.status;
  clearTimeout(kill);
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return await res.json();
}

/** Where {@link isolatedSettings} puts the plugin folder and the science results. */
export interface IsolatedFolders {
  /** Plugin folder (default `<dir>/plugins`). */
  plugins?: string;
  /** Science results root (default `<dir>/science`). */
  science?: string;
}

/**
 * `--set` arguments that keep a process's archive, science results, state and
 * plugins under `dir`, with its API on a free port: tests run side by side.
 */
export function isolatedSettings(dir: string, folders: IsolatedFolders = {}): string[] {
  return [
    `--set=archive.root=${dir}/archive`,
    `--set=science.root=${folders.science ?? `${dir}/science`}`,
    `--set=process.state_dir=${dir}/state`,
    `--set=plugins.dir=${folders.plugins ?? `${dir}/plugins`}`,
    "--set=ui.port=0",
  ];
}

/** Starts one CLI command (`main.ts` with `args`) and leaves it running; stderr is piped, stdout dropped. */
export function spawnFink(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Runs one CLI command to completion. */
export async function fink(args: string[], env: Record<string, string>): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Reads a child's stream to the end into `sink`. */
export async function drain(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.push(decoder.decode(chunk, { stream: true }));
}

/** A `main.ts start` child process and its isolated folders. */
export interface FinkProcess {
  child: Deno.ChildProcess;
  dir: string;
  env: Record<string, string>;
  state: ProcessState;
  /** What the process wrote to stderr so far (for failure messages). */
  log(): string;
  /** Stops the process if it still runs, waits for it, removes its folders. */
  close(): Promise<void>;
}

/**
 * Starts `main.ts start archive --simulator` with every folder and port
 * isolated, and waits until its API answers.
 */
export async function startFink(settings: Record<string, string | number>): Promise<FinkProcess> {
  const dir = await Deno.makeTempDir({ prefix: "fink-process-" });
  const env: Record<string, string> = {
    FINK_PROCESS_STATE_DIR: join(dir, "state"),
    FINK_UI_PORT: "0",
    FINK_ARCHIVE_ROOT: join(dir, "archive"),
    FINK_SCIENCE_ROOT: join(dir, "science"),
    FINK_SIMULATOR_PORT: String(freePort()),
    FINK_SIMULATOR_IN_MEMORY: "true",
    FINK_SIMULATOR_INTERVAL_S: "0.5",
  };
  for (const [key, value] of Object.entries(settings)) {
    env[`FINK_${key.toUpperCase().replaceAll(".", "_")}`] = String(value);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "start", "archive", "--simulator"],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const drained = Promise.all([drain(child.stdout, stdout), drain(child.stderr, stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const log = () => stderr.join("");
  const close = async () => {
    if (!exited) await stopProcess(child, env.FINK_PROCESS_STATE_DIR);
    await drained;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const state = await waitFor("the process to answer on its API", async () => {
      if (exited) throw new Error(`The process exited at start:\n${log()}`);
      const s = await readProcessState(env.FINK_PROCESS_STATE_DIR);
      if (s === null || s.pid !== child.pid) return undefined;
      const res = await fetch(`${s.url}/api/status`).catch(() => null);
      await res?.body?.cancel();
      return res?.ok ? s : undefined;
    });
    return { child, dir, env, state, log, close };
  } catch (e) {
    await close();
    throw e;
  }
}
