/** AddOffsetsToTxn (key 25), v0-1: the group whose offsets a transaction will commit. */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { TransactionCoordinator } from "./coordinator.ts";
import { readTransactionRef } from "./transaction_ref.ts";

/** The AddOffsetsToTxn handler. */
export function addOffsetsToTxnHandler(coordinator: TransactionCoordinator): ApiHandler {
  return {
    apiKey: 25,
    name: "AddOffsetsToTxn",
    minVersion: 0,
    maxVersion: 1,
    firstFlexibleVersion: -1,
    handle(body) {
      const ref = readTransactionRef(body);
      const error = coordinator.addOffsets(ref, body.string());
      return new Writer().int32(0).int16(error);
    },
  };
}
