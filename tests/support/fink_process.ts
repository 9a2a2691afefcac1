/**
 * Running the CLI as a user does, in child processes: shared by the tests that
 * start, stop and query a real process.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readProcessState } from "../../core/process/state_file.ts";

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

/** Asks the process to shut down through its API (SIGTERM if that fails); SIGKILL after 30 s. */
export async function stopProcess(child: Deno.ChildProcess, stateDir: string): Promise<void> {
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
  const kill = setTimeout(() => signal("SIGKILL"), 30_000);
  await child.status;
  clearTimeout(kill);
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return await res.json();
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
