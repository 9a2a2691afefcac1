/** EndTxn (key 26), v0-1: commits or aborts a transaction, answered once its markers are written. */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { TransactionCoordinator } from "./coordinator.ts";
import { readTransactionRef } from "./transaction_ref.ts";

/** The EndTxn handler. */
export function endTxnHandler(coordinator: TransactionCoordinator): ApiHandler {
  return {
    apiKey: 26,
    name: "EndTxn",
    minVersion: 0,
    maxVersion: 1,
    firstFlexibleVersion: -1,
    async handle(body) {
      const ref = readTransactionRef(body);
      const error = await coordinator.endTransaction(ref, body.boolean());
      return new Writer().int32(0).int16(error);
    },
  };
}
