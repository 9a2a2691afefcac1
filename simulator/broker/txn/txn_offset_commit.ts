/**
 * TxnOffsetCommit (key 28), v0-2: group offsets kept with a transaction and
 * stored when it commits. v2 adds a leader epoch, accepted and ignored.
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { OffsetEntry } from "../group/offset_store.ts";
import type { TransactionCoordinator } from "./coordinator.ts";

/** The TxnOffsetCommit handler. */
export function txnOffsetCommitHandler(coordinator: TransactionCoordinator): ApiHandler {
  return {
    apiKey: 28,
    name: "TxnOffsetCommit",
    minVersion: 0,
    maxVersion: 2,
    firstFlexibleVersion: -1,
    handle(body, header, ctx) {
      const transactionalId = body.string();
      const group = body.string();
      const producerId = body.int64();
      const producerEpoch = body.int16();
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.array((r) => {
          const partition = r.int32();
          const offset = r.int64();
          if (header.apiVersion >= 2) r.int32();
          return { partition, offset, metadata: r.nullableString() ?? "" };
        }),
      }));
      const entries: OffsetEntry[] = topics.flatMap((t) =>
        t.partitions.map((p) => ({ topic: t.name, ...p }))
      );
      const known = entries.every((e) => {
        const count = ctx.partitionsOf(e.topic);
        return count !== undefined && e.partition >= 0 && e.partition < count;
      });
      const error = known
        ? coordinator.commitInTransaction(
          { transactionalId, producerId, producerEpoch },
          group,
          entries,
        )
        : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      return new Writer().int32(0).array(topics, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => void w.int32(p.partition).int16(error));
      });
    },
  };
}
