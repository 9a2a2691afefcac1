/**
 * A fixed set of module Workers that run one job at a time each: jobs wait in
 * a queue for a free Worker, a reply settles the job it answers (by id), and a
 * Worker that dies fails its job and is replaced. The archive's and the
 * distribution's encoder pools are built on it; what a job carries and how its
 * failures read is theirs.
 */
import { startModuleWorker } from "./module_worker.ts";

/** What every Worker reply carries: the id of the job it answers. */
export interface WorkerReply {
  id: number;
}

/** One job of a {@link WorkerPool}: how it reaches a Worker and how its end is told. */
export interface WorkerJob<R extends WorkerReply> {
  /** Posts the job to `worker` as job `id`, transferring what it gives up. */
  send(worker: Worker, id: number): void;
  /** The Worker answered. */
  settle(reply: R): void;
  /** The Worker died while running the job (`reason` from the runtime); it was replaced. */
  crashed(reason: string): void;
  /** The pool was terminated before the job ended. */
  cancelled(): void;
}

/** Size and hooks of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Workers, at least 1. */
  workers: number;
  /** Called each time a job leaves the queue for a Worker (room for one more). */
  onDequeue?: () => void;
  /** Called when a Worker dies, before its job is told. */
  onCrash?: (reason: string) => void;
}

interface Slot<R extends WorkerReply> {
  worker: Worker;
  job: WorkerJob<R> | undefined;
  id: number;
}

/** Module Workers running queued jobs, replaced when they die. */
export class WorkerPool<R extends WorkerReply> {
  /** Number of Workers. */
  readonly size: number;
  readonly #url: string;
  readonly #options: WorkerPoolOptions;
  readonly #slots: Slot<R>[] = [];
  readonly #queue: WorkerJob<R>[] = [];
  #nextId = 1;
  #terminated = false;

  /**
   * Starts `options.workers` Workers running the module at `url`.
   *
   * @throws Error when the number of Workers is not a positive integer
   */
  constructor(url: string, options: WorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new Error(`A worker pool needs at least 1 worker, found ${options.workers}`);
    }
    this.size = options.workers;
    this.#url = url;
    this.#options = options;
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  /** Jobs waiting for a Worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a job; after {@link terminate} it is cancelled at once. */
  submit(job: WorkerJob<R>): void {
    if (this.#terminated) {
      job.cancelled();
      return;
    }
    this.#queue.push(job);
    this.#dispatch();
  }

  /** Stops every Worker; running and queued jobs are cancelled. */
  terminate(): void {
    this.#terminated = true;
    const running = this.#slots.splice(0);
    for (const slot of running) slot.worker.terminate();
    for (const slot of running) slot.job?.cancelled();
    for (const job of this.#queue.splice(0)) job.cancelled();
  }

  #spawn(): Slot<R> {
    const slot: Slot<R> = {
      worker: startModuleWorker<R>(this.#url, {
        message: (reply) => this.#finish(slot, reply),
        crash: (reason) => this.#crash(slot, reason),
      }),
      job: undefined,
      id: 0,
    };
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job !== undefined || this.#queue.length === 0) continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      slot.id = this.#nextId++;
      job.send(slot.worker, slot.id);
      this.#options.onDequeue?.();
    }
  }

  #finish(slot: Slot<R>, reply: R): void {
    const job = slot.job;
    if (job === undefined || reply.id !== slot.id) return;
    slot.job = undefined;
    job.settle(reply);
    this.#dispatch();
  }

  #crash(slot: Slot<R>, reason: string): void {
    slot.worker.terminate();
    const index = this.#slots.indexOf(slot);
    if (index < 0) return;
    this.#slots[index] = this.#spawn();
    this.#options.onCrash?.(reason);
    slot.job?.crashed(reason);
    this.#dispatch();
  }
}
