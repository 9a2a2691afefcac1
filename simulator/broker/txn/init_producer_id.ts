/**
 * InitProducerId (key 22), v0-1: a producer id and epoch for an idempotent
 * producer, or for a transactional id (fencing the previous producer of it).
 */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { TransactionCoordinator } from "./coordinator.ts";

/** The InitProducerId handler. */
export function initProducerIdHandler(coordinator: TransactionCoordinator): ApiHandler {
  return {
    apiKey: 22,
    name: "InitProducerId",
    minVersion: 0,
    maxVersion: 1,
    firstFlexibleVersion: -1,
    handle(body) {
      const transactionalId = body.nullableString();
      const timeoutMs = body.int32();
      const r = coordinator.initProducerId(transactionalId, timeoutMs);
      return new Writer().int32(0).int16(r.error).int64(r.producerId).int16(r.producerEpoch);
    },
  };
}
