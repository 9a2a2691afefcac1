/**
 * Runs {@link encodeBatch} on every core: a pool of module Workers, each
 * batch packed into one buffer and transferred (not cloned) both ways. The
 * queue is bounded: `encode` waits for room, which is the archive's
 * backpressure. A worker that dies rejects its batch and is replaced.
 */
import { type WorkerJob, WorkerPool } from "../worker_pool.ts";
import { availableParallelism } from "node:os";
import type { EncodedBatch, EncodeOptions, RawMessage } from "./encoder.ts";

/** Pool size and queue bound. */
export interface EncoderPoolOptions {
  /** Workers (default: the number of cores). */
  workers?: number;
  /** Batches waiting for a worker before `encode` itself waits (default: one per worker). */
  maxQueued?: number;
  /** Worker module to run instead of `encoder_worker.ts` (for instrumentation and tests). */
  workerUrl?: string;
}

/** A batch packed into transferable buffers (all messages from one topic-partition). */
export interface PackedBatch {
  topic: string;
  partition: number;
  offsets: BigInt64Array;
  timestamps: Float64Array;
  /** Message `i` is `data[ends[i - 1] ?? 0 .. ends[i])`. */
  ends: Uint32Array;
  data: Uint8Array;
}

/** Pool → worker. */
export interface EncodeRequest {
  id: number;
  batch: PackedBatch;
  options: EncodeOptions;
}

/** Worker → pool. */
export type EncodeResponse =
  | { id: number; ok: true; result: EncodedBatch }
  | { id: number; ok: false; error: string };

/** One batch's job: packed when a Worker is free, so that the queue holds no copies. */
class Task implements WorkerJob<EncodeResponse> {
  constructor(
    readonly messages: readonly RawMessage[],
    readonly options: EncodeOptions,
    readonly resolve: (result: EncodedBatch) => void,
    readonly reject: (error: Error) => void,
  ) {}

  send(worker: Worker, id: number): void {
    const batch = packBatch(this.messages);
    const request: EncodeRequest = { id, batch, options: this.options };
    worker.postMessage(request, batchTransfers(batch));
  }

  settle(response: EncodeResponse): void {
    if (response.ok) this.resolve(response.result);
    else this.reject(new Error(`Encoding ${describe(this)} failed: ${response.error}`));
  }

  crashed(reason: string): void {
    this.reject(
      new Error(
        `Encoder worker crashed while encoding ${describe(this)}: ${reason}; ` +
          "the worker was replaced, retry the batch",
      ),
    );
  }

  cancelled(): void {
    this.reject(new Error("Encoder pool is closed; create a new pool to encode"));
  }
}

/** A fixed set of encoder Workers. */
export class EncoderPool {
  /** Number of workers. */
  readonly size: number;
  readonly #maxQueued: number;
  readonly #workers: WorkerPool<EncodeResponse>;
  readonly #roomWaiters: (() => void)[] = [];
  readonly #settled = new Set<Promise<unknown>>();
  #closed = false;

  /** Starts the workers. */
  constructor(options: EncoderPoolOptions = {}) {
    this.size = options.workers ?? availableParallelism();
    this.#maxQueued = options.maxQueued ?? this.size;
    this.#workers = new WorkerPool<EncodeResponse>(
      options.workerUrl ?? new URL("./encoder_worker.ts", import.meta.url).href,
      {
        workers: this.size,
        onDequeue: () => this.#roomWaiters.shift()?.(),
        onCrash: (message) =>
          console.error(
            JSON.stringify({ component: "encoder_pool", event: "worker_crash", message }),
          ),
      },
    );
  }

  /** Batches accepted and waiting for a worker. */
  get queued(): number {
    return this.#workers.queued;
  }

  /** `encode` calls held back because the queue is full. */
  get waiting(): number {
    return this.#roomWaiters.length;
  }

  /**
   * Encodes a batch on a free worker; waits first while the queue is full.
   *
   * @throws Error when the pool is closed, the worker fails or crashes
   */
  async encode(
    messages: readonly RawMessage[],
    options: EncodeOptions = {},
  ): Promise<EncodedBatch> {
    while (this.#workers.queued >= this.#maxQueued && !this.#closed) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    if (this.#closed) throw new Error("Encoder pool is closed; create a new pool to encode");
    const done = new Promise<EncodedBatch>((resolve, reject) => {
      this.#workers.submit(new Task(messages, options, resolve, reject));
    });
    const settled = done.then(() => {}, () => {});
    this.#settled.add(settled);
    settled.then(() => this.#settled.delete(settled));
    return await done;
  }

  /**
   * Lets accepted (queued and running) batches finish, then stops the
   * workers; `encode` calls still waiting for room are rejected.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#roomWaiters.splice(0)) wake();
    while (this.#settled.size > 0) await Promise.all(this.#settled);
    this.#workers.terminate();
  }
}

function describe(task: { messages: readonly RawMessage[] }): string {
  const first = task.messages[0];
  const last = task.messages[task.messages.length - 1];
  return first
    ? `${first.topic}/${first.partition} offsets ${first.offset}..${last.offset}`
    : "an empty batch";
}

/** Packs messages into four buffers that can be transferred rather than cloned. */
export function packBatch(messages: readonly RawMessage[]): PackedBatch {
  const n = messages.length;
  const offsets = new BigInt64Array(n);
  const timestamps = new Float64Array(n);
  const ends = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += messages[i].value.length;
    ends[i] = total;
    offsets[i] = messages[i].offset;
    timestamps[i] = messages[i].timestamp;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < n; i++) data.set(messages[i].value, i === 0 ? 0 : ends[i - 1]);
  return {
    topic: messages[0]?.topic ?? "",
    partition: messages[0]?.partition ?? 0,
    offsets,
    timestamps,
    ends,
    data,
  };
}

/**
 * The messages of a packed batch (values are views on its data).
 *
 * @throws Error when the packed batch is inconsistent
 */
export function unpackBatch(batch: PackedBatch): RawMessage[] {
  const out: RawMessage[] = [];
  let start = 0;
  for (let i = 0; i < batch.ends.length; i++) {
    const end = batch.ends[i];
    if (end < start || end > batch.data.length) {
      throw new Error(
        `Packed batch message ${i} ends at ${end}, outside ${start}..${batch.data.length}`,
      );
    }
    out.push({
      topic: batch.topic,
      partition: batch.partition,
      offset: batch.offsets[i],
      timestamp: batch.timestamps[i],
      value: batch.data.subarray(start, end),
    });
    start = end;
  }
  return out;
}

/** The buffers of a packed batch, to transfer. */
export function batchTransfers(batch: PackedBatch): ArrayBuffer[] {
  return [
    batch.offsets.buffer,
    batch.timestamps.buffer,
    batch.ends.buffer,
    batch.data.buffer,
  ] as ArrayBuffer[];
}

/** The buffers of a result, to transfer (each file's bytes and ids own their buffer). */
export function resultTransfers(result: EncodedBatch): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const file of result.files) {
    out.push(file.bytes.buffer as ArrayBuffer);
    if (file.ids) out.push(file.ids.buffer as ArrayBuffer);
  }
  for (const q of result.quarantined) out.push(q.value.buffer as ArrayBuffer);
  return out;
}
