/**
 * Runs {@link encodeAlerts} in module Workers, one job at a time each, so
 * Parquet decoding and Avro encoding leave the main thread to the filters and
 * the Kafka producer. The encoded messages come back in one transferred
 * buffer. A Worker that dies rejects its job and is replaced.
 */
import { type WorkerJob, WorkerPool } from "../worker_pool.ts";
import { availableParallelism } from "node:os";
import type { EncodedAlerts, EncodeJob } from "./alert_encoder.ts";

/** Pool → Worker. */
export interface EncodeRequest {
  id: number;
  job: EncodeJob;
  /** A message buffer handed back by {@link AlertEncoderPool.recycle}, to write into. */
  out?: ArrayBuffer;
}

/** Worker → pool. */
export type EncodeResponse =
  | { id: number; ok: true; result: EncodedAlerts; cpuMs: number }
  | { id: number; ok: false; error: string };

/** One job: its answer, and a spare message buffer for the Worker to write into. */
class Task implements WorkerJob<EncodeResponse> {
  constructor(
    readonly job: EncodeJob,
    readonly spare: () => ArrayBuffer | undefined,
    readonly resolve: (result: EncodedAlerts, cpuMs: number) => void,
    readonly reject: (error: Error) => void,
  ) {}

  send(worker: Worker, id: number): void {
    const out = this.spare();
    const request: EncodeRequest = { id, job: this.job, out };
    const { parquet } = this.job;
    const transfers = typeof parquet === "string" ? [] : [parquet.buffer as ArrayBuffer];
    worker.postMessage(request, out === undefined ? transfers : [...transfers, out]);
  }

  settle(response: EncodeResponse): void {
    if (response.ok) this.resolve(response.result, response.cpuMs);
    else this.reject(new Error(`Encoding alerts failed: ${response.error}`));
  }

  crashed(reason: string): void {
    this.reject(new Error(`An encoder Worker crashed: ${reason}`));
  }

  cancelled(): void {
    this.reject(new Error("The encoder pool was closed"));
  }
}

/** A fixed set of encoding Workers. */
export class AlertEncoderPool {
  readonly #workers: WorkerPool<EncodeResponse>;
  readonly #spare: ArrayBuffer[] = [];
  #closed = false;
  /** Thread CPU time the Workers spent on jobs, ms (read from each Worker's own clock). */
  cpuMs = 0;

  /** Starts `workers` Workers (default: one per core). */
  constructor(readonly workers: number = availableParallelism()) {
    this.#workers = new WorkerPool<EncodeResponse>(
      new URL("./encoder_worker.ts", import.meta.url).href,
      { workers },
    );
  }

  /**
   * Encodes a job on the next free Worker. Parquet bytes are transferred to it, not copied:
   * the caller gives them up.
   */
  encode(job: EncodeJob): Promise<EncodedAlerts> {
    if (this.#closed) {
      return Promise.reject(new Error("The encoder pool is closed; create another to encode"));
    }
    return new Promise((resolve, reject) => {
      const done = (result: EncodedAlerts, cpuMs: number) => {
        this.cpuMs += cpuMs;
        resolve(result);
      };
      this.#workers.submit(new Task(job, () => this.#spare.pop(), done, reject));
    });
  }

  /**
   * Hands back the buffer of a result whose messages are no longer used (published), so
   * that a later job writes into it instead of into fresh memory.
   */
  recycle(data: Uint8Array): void {
    const buffer = data.buffer as ArrayBuffer;
    // One per Worker and one more is what the jobs in flight use; more would only hold memory.
    if (buffer.byteLength > 0 && this.#spare.length <= this.workers) this.#spare.push(buffer);
  }

  /** Stops the Workers; jobs not finished are rejected. */
  close(): void {
    this.#closed = true;
    this.#workers.terminate();
  }
}
