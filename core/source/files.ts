/**
 * A folder of `.avro` / `.avro.gz` files replayed as one partition: the files
 * sorted by path are offsets 0, 1, 2 … of topic `files` (or the given topic),
 * so replaying the same folder archives the same alerts under the same names.
 */
import { gunzipSync } from "node:zlib";
import { join, relative } from "node:path";
import type { PartitionPosition, Source, SourceHandler, SourceMessage } from "./source.ts";
import type { TopicPartition } from "./topic_partition.ts";

/** Options of {@link createFilesSource}. */
export interface FilesSourceOptions {
  /** Topic name the alerts are archived under (default: "files"). */
  topic?: string;
  /** Messages per delivery (default 500). */
  chunk?: number;
  /** Told how long reading each delivery's files took, ms (for the archive's stage times). */
  onFetch?: (ms: number) => void;
}

/** Lists the alert files of a folder (recursively) or a single file, sorted by path. */
export async function listAlertFiles(path: string): Promise<string[]> {
  const info = await Deno.stat(path).catch(() => null);
  if (info === null) throw new Error(`Source folder ${path} does not exist`);
  if (info.isFile) return [path];
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const full = join(dir, entry.name);
      if (entry.isDirectory) await walk(full);
      else if (/\.avro(\.gz)?$/.test(entry.name)) out.push(full);
    }
  }
  await walk(path);
  out.sort((a, b) => relative(path, a).localeCompare(relative(path, b)));
  if (out.length === 0) throw new Error(`Source folder ${path} holds no .avro or .avro.gz file`);
  return out;
}

/** A source replaying the alert files below `path`. */
export function createFilesSource(path: string, options: FilesSourceOptions = {}): Source {
  const topic = options.topic ?? "files";
  const chunk = options.chunk ?? 500;
  let stopped = false;
  let running: Promise<void> | null = null;
  let total = 0n;
  const finished = Promise.withResolvers<void>();
  finished.promise.catch(() => {});

  async function deliver(handler: SourceHandler): Promise<void> {
    const files = await listAlertFiles(path);
    total = BigInt(files.length);
    await handler.onAssigned?.([{ topic, partition: 0 }]);
    const stat = await Deno.stat(path);
    const timestamp = stat.mtime?.getTime() ?? 0;
    for (let start = 0; start < files.length && !stopped; start += chunk) {
      const messages: SourceMessage[] = [];
      const t0 = performance.now();
      for (let i = start; i < Math.min(start + chunk, files.length); i++) {
        let value: Uint8Array = await Deno.readFile(files[i]);
        if (files[i].endsWith(".gz")) value = gunzipSync(value);
        messages.push({ topic, partition: 0, offset: BigInt(i), timestamp, value });
      }
      options.onFetch?.(performance.now() - t0);
      await handler.onMessages(messages);
    }
  }

  return {
    description: `files ${path} as topic ${topic}`,
    start(handler) {
      running = deliver(handler).then(finished.resolve, finished.reject);
      return Promise.resolve();
    },
    commit: (_tp: TopicPartition, _next: bigint) => Promise.resolve(),
    positions: (): PartitionPosition[] => [{ topic, partition: 0, highWatermark: total }],
    health: () => ({ connected: true, error: null }),
    membership: () => null,
    finished: finished.promise,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
