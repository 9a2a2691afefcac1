/** AddPartitionsToTxn (key 24), v0-1: partitions a transaction is about to write. */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { TransactionCoordinator } from "./coordinator.ts";
import { readTransactionRef } from "./transaction_ref.ts";

/** The AddPartitionsToTxn handler. */
export function addPartitionsToTxnHandler(coordinator: TransactionCoordinator): ApiHandler {
  return {
    apiKey: 24,
    name: "AddPartitionsToTxn",
    minVersion: 0,
    maxVersion: 1,
    firstFlexibleVersion: -1,
    handle(body) {
      const ref = readTransactionRef(body);
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.array((r) => r.int32()),
      }));
      const error = coordinator.addPartitions(
        ref,
        topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition }))),
      );
      return new Writer().int32(0).array(topics, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => void w.int32(p).int16(error));
      });
    },
  };
}
