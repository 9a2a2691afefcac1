/**
 * Runs {@link encodeAlerts} in module Workers, one job at a time each, so
 * Parquet decoding and Avro encoding leave the main thread to the filters and
 * the Kafka producer. The encoded messages come back in one transferred
 * buffer. A Worker that dies rejects its job and is replaced.
 */
import { startModuleWorker } from "../module_worker.ts";
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

interface Task {
  id: number;
  job: EncodeJob;
  resolve(result: EncodedAlerts): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
}

/** A fixed set of encoding Workers. */
export class AlertEncoderPool {
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  readonly #spare: ArrayBuffer[] = [];
  #nextId = 1;
  #closed = false;
  /** Thread CPU time the Workers spent on jobs, ms (read from each Worker's own clock). */
  cpuMs = 0;

  /** Starts `workers` Workers (default: one per core). */
  constructor(readonly workers: number = availableParallelism()) {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`The encoder pool needs at least 1 worker, found ${workers}`);
    }
    for (let i = 0; i < workers; i++) this.#slots.push(this.#spawn());
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
      this.#queue.push({ id: this.#nextId++, job, resolve, reject });
      this.#dispatch();
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
    for (const slot of this.#slots) {
      slot.worker.terminate();
      slot.task?.reject(new Error("The encoder pool was closed"));
    }
    for (const task of this.#queue.splice(0)) task.reject(new Error("The encoder pool was closed"));
    this.#slots.length = 0;
  }

  #spawn(): Slot {
    const slot: Slot = {
      worker: startModuleWorker<EncodeResponse>(
        new URL("./encoder_worker.ts", import.meta.url).href,
        {
          message: (response) => this.#finish(slot, response),
          crash: (reason) => this.#crash(slot, reason),
        },
      ),
      task: undefined,
    };
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.task !== undefined || this.#queue.length === 0) continue;
      const task = this.#queue.shift()!;
      slot.task = task;
      const request: EncodeRequest = { id: task.id, job: task.job };
      const { parquet } = task.job;
      slot.worker.postMessage(
        request,
        typeof parquet === "string" ? [] : [parquet.buffer as ArrayBuffer],
      );
    }
  }

  #finish(slot: Slot, response: EncodeResponse): void {
    const task = slot.task;
    if (task === undefined || task.id !== response.id) return;
    slot.task = undefined;
    if (response.ok) {
      this.cpuMs += response.cpuMs;
      task.resolve(response.result);
    } else {
      task.reject(new Error(`Encoding alerts failed: ${response.error}`));
    }
    this.#dispatch();
  }

  #crash(slot: Slot, reason: string): void {
    slot.worker.terminate();
    const index = this.#slots.indexOf(slot);
    slot.task?.reject(new Error(`An encoder Worker crashed: ${reason}`));
    if (index >= 0 && !this.#closed) this.#slots[index] = this.#spawn();
    this.#dispatch();
  }
}
