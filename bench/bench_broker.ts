/**
 * The embedded broker alone in a process of its own, for benchmarks that
 * need the broker apart from the process they measure, as in production.
 *
 * `deno run -A bench/bench_broker.ts DATA_DIR` prints `{"address": "127.0.0.1:PORT"}` on
 * one line once it listens, and closes cleanly on SIGTERM.
 */
import { startBroker } from "../simulator/broker/mod.ts";

/** A broker process started by {@link spawnBenchBroker}. */
export interface BenchBroker {
  address: string;
  pid: number;
  /** Stops the process and waits for it. */
  close(): Promise<void>;
}

/** Starts the broker process on a free port with its log in `dataDir`. */
export async function spawnBenchBroker(dataDir: string): Promise<BenchBroker> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, dataDir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`The bench broker ended before it listened: ${text}`);
    text += value;
  }
  lines.releaseLock();
  const { address } = JSON.parse(text.slice(0, text.indexOf("\n")));
  return {
    address,
    pid: child.pid,
    async close() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

if (import.meta.main) {
  const broker = await startBroker({ port: 0, dataDir: Deno.args[0] ?? null });
  Deno.addSignalListener("SIGTERM", async () => {
    await broker.close();
    Deno.exit(0);
  });
  console.log(JSON.stringify({ address: broker.address }));
}
