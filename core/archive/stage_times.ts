/**
 * Where the archive's time goes, stage by stage: the time summed over every
 * call of a stage since the archive started, and how many calls. Stages run
 * side by side (two encoder workers, the batches of several partitions being
 * written), so the sums of a stage can exceed the wall time; divided by the
 * alerts archived they say what each alert costs in that stage.
 *
 * - `fetch`: Kafka fetch requests (kafkajs' own figure), or reading files;
 * - `wait`: the source held back because the batches in memory reached `batch.buffer_mb`;
 * - `queue`: a cut batch waiting for a free encoder worker, plus its transfer both ways;
 * - `decode`: Avro → Arrow columns, in the workers;
 * - `encode`: Arrow → Parquet bytes, in the workers;
 * - `write`, `fsync`, `dirFsync`, `rename`: the disk operations of the
 *   batches' files (Parquet and quarantine), local storage only;
 * - `commit`: every disk operation of the ledger (`_wal/`, `_offsets/`);
 * - `flush`: a batch's whole exactly-once write, files and ledger, wall time;
 * - `compact`: every disk operation of compaction (closed hours' files merged).
 */
import type { IoEvent } from "../storage/mod.ts";

/** The stages timed, in pipeline order. */
export const STAGES = [
  "fetch",
  "wait",
  "queue",
  "decode",
  "encode",
  "write",
  "fsync",
  "dirFsync",
  "rename",
  "commit",
  "flush",
  "compact",
] as const;

/** One stage of the archive. */
export type Stage = typeof STAGES[number];

/** Calls of one stage and the seconds they took, summed. */
export interface StageTime {
  count: number;
  seconds: number;
}

/** Every stage's figures, and the bytes the archive wrote to disk. */
export interface StageSnapshot {
  stages: Record<Stage, StageTime>;
  /** Bytes the batches wrote to local storage: their files and the ledger's. */
  diskBytes: number;
  /** Bytes compaction wrote to local storage. */
  compactionBytes: number;
}

/** The ledger's folders: its disk operations count as `commit`. */
const LEDGER = /^_(wal|offsets)(\/|$)/;

/** Summed time per stage; see the module documentation. */
export class StageTimes {
  readonly #ms = new Map<Stage, { count: number; ms: number }>(
    STAGES.map((s) => [s, { count: 0, ms: 0 }]),
  );
  #diskBytes = 0;
  #compactionBytes = 0;

  /** Adds `ms` spent in `stage` over `count` calls. */
  add(stage: Stage, ms: number, count = 1): void {
    const t = this.#ms.get(stage)!;
    t.count += count;
    t.ms += ms;
  }

  /** Times `work` as one call of `stage`, whether it resolves or rejects. */
  async time<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.add(stage, performance.now() - t0);
    }
  }

  /** Adds a disk operation of the batch writer to its stage. */
  addIo(event: IoEvent): void {
    this.#diskBytes += event.bytes;
    if (LEDGER.test(event.path)) this.add("commit", event.ms);
    else if (event.op !== "remove") this.add(event.op, event.ms);
  }

  /** Adds a disk operation of the compactor. */
  addCompactionIo(event: IoEvent): void {
    this.#compactionBytes += event.bytes;
    this.add("compact", event.ms);
  }

  /** The figures so far. */
  snapshot(): StageSnapshot {
    const stages = {} as Record<Stage, StageTime>;
    for (const [stage, t] of this.#ms) {
      stages[stage] = { count: t.count, seconds: Math.round(t.ms) / 1000 };
    }
    return { stages, diskBytes: this.#diskBytes, compactionBytes: this.#compactionBytes };
  }
}
