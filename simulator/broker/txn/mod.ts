/**
 * Transactions and idempotent producers for the embedded broker (KIP-98):
 * InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and
 * TxnOffsetCommit, over one {@link TransactionCoordinator} that Produce and
 * Fetch consult too.
 */
import type { ApiHandler } from "../protocol/api.ts";
import type { LogStore } from "../log/mod.ts";
import { logger } from "../../../core/log.ts";
import { type CommitOffsets, TransactionCoordinator } from "./coordinator.ts";
import { initProducerIdHandler } from "./init_producer_id.ts";
import { addPartitionsToTxnHandler } from "./add_partitions_to_txn.ts";
import { addOffsetsToTxnHandler } from "./add_offsets_to_txn.ts";
import { endTxnHandler } from "./end_txn.ts";
import { txnOffsetCommitHandler } from "./txn_offset_commit.ts";

export { TransactionCoordinator } from "./coordinator.ts";

/** The transaction APIs and the coordinator behind them. */
export interface Transactions {
  coordinator: TransactionCoordinator;
  handlers: ApiHandler[];
}

/**
 * Creates the transaction coordinator over `store`, aborting transactions the
 * logs show open; committed offsets go through `commitOffsets`.
 */
export function createTransactions(store: LogStore, commitOffsets: CommitOffsets): Transactions {
  const coordinator = new TransactionCoordinator(store, commitOffsets, logger("broker.txn"));
  return {
    coordinator,
    handlers: [
      initProducerIdHandler(coordinator),
      addPartitionsToTxnHandler(coordinator),
      addOffsetsToTxnHandler(coordinator),
      endTxnHandler(coordinator),
      txnOffsetCommitHandler(coordinator),
    ],
  };
}
