/** The transactional id, producer id and epoch that open most transaction requests. */
import type { Reader } from "../protocol/reader.ts";
import type { TransactionRef } from "./coordinator.ts";

/** Reads transactional_id, producer_id and producer_epoch. */
export function readTransactionRef(body: Reader): TransactionRef {
  const transactionalId = body.string();
  const producerId = body.int64();
  return { transactionalId, producerId, producerEpoch: body.int16() };
}
