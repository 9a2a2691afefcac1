/**
 * The transaction coordinator and idempotent-producer bookkeeping of the
 * embedded broker (KIP-98), independent of the wire format: producer ids and
 * epochs by transactional id (a new InitProducerId fences the previous
 * producer and aborts its open transaction), the partitions and group offsets
 * of each open transaction, the markers that end it, and per-partition
 * sequence numbers that drop a retried batch instead of storing it twice.
 *
 * Coordinator state lives in memory: when the broker starts, a transaction
 * its logs show open is aborted, since no producer can finish it any more.
 */
import { ErrorCode } from "../protocol/api.ts";
import type { LogStore, PartitionLog } from "../log/mod.ts";
import { type BatchInfo, controlBatch } from "../record_batch.ts";
import type { OffsetEntry } from "../group/offset_store.ts";
import type { Logger } from "../../../core/log.ts";

/** Longest transaction timeout a producer may ask for (Kafka's transaction.max.timeout.ms). */
const MAX_TRANSACTION_TIMEOUT_MS = 15 * 60 * 1000;

/** A producer id and epoch, or the error that refused them. */
export interface ProducerIdResult {
  error: number;
  producerId: bigint;
  producerEpoch: number;
}

/** Who speaks for a transaction in a request. */
export interface TransactionRef {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

/** Stores committed offsets, as the group coordinator does for OffsetCommit. */
export type CommitOffsets = (group: string, entries: readonly OffsetEntry[]) => Promise<void>;

interface Transaction {
  producerId: bigint;
  producerEpoch: number;
  timeoutMs: number;
  /** When the first partition joined the open transaction; 0 when none is open. */
  startedAt: number;
  partitions: Map<string, { topic: string; partition: number }>;
  offsets: Map<string, OffsetEntry[]>;
  /** Set while EndTxn writes markers and offsets, so that nothing joins meanwhile. */
  ending: boolean;
}

interface SequenceState {
  producerEpoch: number;
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
}

/** What Produce should do with one partition's batches of an idempotent producer. */
export type ProduceCheck =
  | { kind: "append" }
  | { kind: "duplicate"; baseOffset: number }
  | { kind: "refuse"; error: number; message: string };

/** Transactions and producer ids of one broker. */
export class TransactionCoordinator {
  readonly #transactions = new Map<string, Transaction>();
  readonly #sequences = new WeakMap<PartitionLog, Map<bigint, SequenceState>>();
  /** Ids start from the clock so that a restarted broker never reuses one found in its logs. */
  #nextProducerId = BigInt(Date.now()) * 1000n;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly store: LogStore,
    private readonly commitOffsets: CommitOffsets,
    private readonly log: Logger,
  ) {
    this.#abortLeftOpen();
    this.#timer = setInterval(() => this.#abortExpired(Date.now()), 1000);
  }

  /** InitProducerId: a fresh id, or for a transactional id the same id with the next epoch. */
  initProducerId(transactionalId: string | null, timeoutMs: number): ProducerIdResult {
    if (transactionalId === null) {
      return { error: ErrorCode.NONE, producerId: this.#nextProducerId++, producerEpoch: 0 };
    }
    if (timeoutMs <= 0 || timeoutMs > MAX_TRANSACTION_TIMEOUT_MS) {
      return { error: ErrorCode.INVALID_TRANSACTION_TIMEOUT, producerId: -1n, producerEpoch: -1 };
    }
    let txn = this.#transactions.get(transactionalId);
    if (txn?.ending) {
      return { error: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1n, producerEpoch: -1 };
    }
    // The fenced producer's open transaction is aborted, offsets it sent included.
    if (txn && (txn.partitions.size > 0 || txn.offsets.size > 0)) this.#finish(txn, false);
    if (!txn || txn.producerEpoch >= 32_766) {
      txn = {
        producerId: this.#nextProducerId++,
        producerEpoch: 0,
        timeoutMs,
        startedAt: 0,
        partitions: new Map(),
        offsets: new Map(),
        ending: false,
      };
      this.#transactions.set(transactionalId, txn);
    } else {
      txn.producerEpoch++;
      txn.timeoutMs = timeoutMs;
    }
    return { error: ErrorCode.NONE, producerId: txn.producerId, producerEpoch: txn.producerEpoch };
  }

  /** AddPartitionsToTxn: one error code for all the partitions named. */
  addPartitions(ref: TransactionRef, partitions: { topic: string; partition: number }[]): number {
    const txn = this.#transactions.get(ref.transactionalId);
    const error = this.#check(txn, ref);
    if (error !== ErrorCode.NONE) return error;
    for (const p of partitions) {
      if (!this.store.partition(p.topic, p.partition)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (txn!.startedAt === 0) txn!.startedAt = Date.now();
    for (const p of partitions) txn!.partitions.set(`${p.topic}\0${p.partition}`, p);
    return ErrorCode.NONE;
  }

  /** AddOffsetsToTxn: the group whose offsets the transaction will commit. */
  addOffsets(ref: TransactionRef, group: string): number {
    const txn = this.#transactions.get(ref.transactionalId);
    const error = this.#check(txn, ref);
    if (error !== ErrorCode.NONE) return error;
    if (txn!.startedAt === 0) txn!.startedAt = Date.now();
    if (!txn!.offsets.has(group)) txn!.offsets.set(group, []);
    return ErrorCode.NONE;
  }

  /** TxnOffsetCommit: offsets stored only if the transaction commits. */
  commitInTransaction(ref: TransactionRef, group: string, entries: OffsetEntry[]): number {
    const txn = this.#transactions.get(ref.transactionalId);
    const error = this.#check(txn, ref);
    if (error !== ErrorCode.NONE) return error;
    const pending = txn!.offsets.get(group);
    if (!pending) return ErrorCode.INVALID_TXN_STATE;
    pending.push(...entries);
    return ErrorCode.NONE;
  }

  /**
   * EndTxn: writes a commit or abort marker to every partition and, once the
   * transaction's batches and markers are all in the files, stores the
   * committed offsets.
   */
  async endTransaction(ref: TransactionRef, commit: boolean): Promise<number> {
    const txn = this.#transactions.get(ref.transactionalId);
    const error = this.#check(txn, ref);
    if (error !== ErrorCode.NONE) return error;
    txn!.ending = true;
    try {
      const { offsets, logs } = this.#finish(txn!, commit);
      await Promise.all(logs.map((log) => log.settled()));
      for (const [group, entries] of offsets) {
        if (entries.length > 0) await this.commitOffsets(group, entries);
      }
      return ErrorCode.NONE;
    } catch (e) {
      this.log.error("Cannot end a transaction", {
        transactionalId: ref.transactionalId,
        error: e,
      });
      return ErrorCode.KAFKA_STORAGE_ERROR;
    } finally {
      txn!.ending = false;
    }
  }

  /**
   * Checks one partition's batches from Produce: the transactional producer's
   * epoch and membership, and the sequence numbers of an idempotent producer.
   */
  checkProduce(
    transactionalId: string | null,
    target: { topic: string; partition: number; log: PartitionLog },
    batches: BatchInfo[],
  ): ProduceCheck {
    const { topic, partition, log } = target;
    const first = batches[0];
    if (first.producerId < 0n) {
      return transactionalId === null ? { kind: "append" } : {
        kind: "refuse",
        error: ErrorCode.INVALID_REQUEST,
        message: "A transactional produce needs batches with a producer id",
      };
    }
    if (transactionalId !== null) {
      const txn = this.#transactions.get(transactionalId);
      const ref = {
        transactionalId,
        producerId: first.producerId,
        producerEpoch: first.producerEpoch,
      };
      const error = this.#check(txn, ref);
      if (error !== ErrorCode.NONE) {
        return {
          kind: "refuse",
          error,
          message:
            `Producer ${first.producerId} epoch ${first.producerEpoch} cannot write for ${transactionalId}`,
        };
      }
      if (txn!.ending || !txn!.partitions.has(`${topic}\0${partition}`)) {
        return {
          kind: "refuse",
          error: ErrorCode.INVALID_TXN_STATE,
          message: `Partition ${topic}-${partition} was not added to the transaction`,
        };
      }
    }
    let producers = this.#sequences.get(log);
    if (!producers) this.#sequences.set(log, producers = new Map());
    const state = producers.get(first.producerId);
    if (state && first.producerEpoch < state.producerEpoch) {
      return {
        kind: "refuse",
        error: ErrorCode.INVALID_PRODUCER_EPOCH,
        message: `Producer epoch ${first.producerEpoch} is older than ${state.producerEpoch}`,
      };
    }
    if (state && first.producerEpoch === state.producerEpoch) {
      if (first.baseSequence === state.firstSequence) {
        return { kind: "duplicate", baseOffset: state.baseOffset };
      }
      if (first.baseSequence !== state.lastSequence + 1) {
        return {
          kind: "refuse",
          error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
          message: `Expected sequence ${state.lastSequence + 1}, found ${first.baseSequence}`,
        };
      }
    }
    return { kind: "append" };
  }

  /** Records the sequence numbers of batches just appended at `baseOffset`. */
  appended(log: PartitionLog, batches: BatchInfo[], baseOffset: number): void {
    const first = batches[0];
    if (first.producerId < 0n) return;
    const last = batches[batches.length - 1];
    this.#sequences.get(log)?.set(first.producerId, {
      producerEpoch: first.producerEpoch,
      firstSequence: first.baseSequence,
      lastSequence: last.baseSequence + last.lastOffsetDelta,
      baseOffset,
    });
  }

  /** Stops the timeout timer. */
  close(): void {
    clearInterval(this.#timer);
  }

  #check(txn: Transaction | undefined, ref: TransactionRef): number {
    if (!txn || txn.producerId !== ref.producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (ref.producerEpoch !== txn.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
    return ErrorCode.NONE;
  }

  /**
   * Appends the markers of an open transaction and resets it; returns the
   * offsets to store on commit and the logs the markers went to.
   */
  #finish(
    txn: Transaction,
    commit: boolean,
  ): { offsets: Map<string, OffsetEntry[]>; logs: PartitionLog[] } {
    const now = Date.now();
    const logs: PartitionLog[] = [];
    for (const { topic, partition } of txn.partitions.values()) {
      const log = this.store.partition(topic, partition);
      if (!log) continue;
      logs.push(log);
      log.append([
        controlBatch({
          producerId: txn.producerId,
          producerEpoch: txn.producerEpoch,
          commit,
          timestamp: now,
        }),
      ], now);
    }
    const offsets = commit ? txn.offsets : new Map<string, OffsetEntry[]>();
    txn.partitions = new Map();
    txn.offsets = new Map();
    txn.startedAt = 0;
    return { offsets, logs };
  }

  #abortExpired(now: number): void {
    for (const [id, txn] of this.#transactions) {
      if (txn.startedAt === 0 || txn.ending || now - txn.startedAt <= txn.timeoutMs) continue;
      this.log.warn("Transaction timed out: aborted and its producer fenced", {
        transactionalId: id,
      });
      this.#finish(txn, false);
      txn.producerEpoch++;
    }
  }

  #abortLeftOpen(): void {
    const now = Date.now();
    for (const { name, partitions } of this.store.topics()) {
      for (let p = 0; p < partitions; p++) {
        const log = this.store.partition(name, p)!;
        for (const producerId of log.transactions.openProducers()) {
          log.append([
            controlBatch({ producerId, producerEpoch: 0, commit: false, timestamp: now }),
          ], now);
          this.log.warn("Transaction left open by a previous run aborted", {
            topic: name,
            partition: p,
            producerId: String(producerId),
          });
        }
      }
    }
  }
}
