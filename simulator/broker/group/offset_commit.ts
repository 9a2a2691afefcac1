/**
 * OffsetCommit (key 8), v0–7. v1 adds the generation and member id (and a
 * per-partition timestamp, v1 only), v2–4 a retention time, v3 the throttle
 * time, v6 the leader epoch, v7 group instance ids. Retention times,
 * timestamps and leader epochs are accepted and ignored.
 */
import { type ApiHandler, ErrorCode, type HandlerContext } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";
import type { OffsetEntry } from "./offset_store.ts";

/** Kafka's OFFSET_METADATA_TOO_LARGE, missing from the shared error table. */
const OFFSET_METADATA_TOO_LARGE = 12;

const encoder = new TextEncoder();

/** Options of {@link offsetCommitHandler}. */
export interface OffsetCommitOptions {
  /** Longest metadata string accepted with an offset, as Kafka's offset.metadata.max.bytes. */
  maxMetadataBytes: number;
}

interface PartitionCommit {
  partition: number;
  offset: bigint;
  metadata: string | null;
  errorCode: number;
}

/** The OffsetCommit handler; answers once the offsets are durable. */
export function offsetCommitHandler(
  coordinator: Coordinator,
  options: OffsetCommitOptions,
): ApiHandler {
  return {
    apiKey: 8,
    name: "OffsetCommit",
    minVersion: 0,
    maxVersion: 7,
    firstFlexibleVersion: -1,
    async handle(body, header, ctx) {
      const version = header.apiVersion;
      const groupId = body.string();
      const generationId = version >= 1 ? body.int32() : -1;
      const memberId = version >= 1 ? body.string() : "";
      if (version >= 7) body.nullableString();
      if (version >= 2 && version <= 4) body.int64();
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.array((p): PartitionCommit => {
          const partition = p.int32();
          const offset = p.int64();
          if (version >= 6) p.int32();
          if (version === 1) p.int64();
          return { partition, offset, metadata: p.nullableString(), errorCode: ErrorCode.NONE };
        }),
      }));

      const entries: OffsetEntry[] = [];
      const accepted: PartitionCommit[] = [];
      for (const topic of topics) {
        for (const p of topic.partitions) {
          p.errorCode = checkPartition(topic.name, p, ctx, options);
          if (p.errorCode !== ErrorCode.NONE) continue;
          accepted.push(p);
          entries.push({
            topic: topic.name,
            partition: p.partition,
            offset: p.offset,
            metadata: p.metadata ?? "",
          });
        }
      }
      if (entries.length > 0) {
        const errorCode = await coordinator.commit(groupId, { generationId, memberId, entries });
        for (const p of accepted) p.errorCode = errorCode;
      }

      const w = new Writer();
      if (version >= 3) w.int32(0);
      return w.array(topics, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => w.int32(p.partition).int16(p.errorCode));
      });
    },
  };
}

function checkPartition(
  topic: string,
  p: PartitionCommit,
  ctx: HandlerContext,
  options: OffsetCommitOptions,
): number {
  const count = ctx.partitionsOf(topic);
  if (count === undefined || p.partition < 0 || p.partition >= count) {
    return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  }
  if (
    p.metadata !== null &&
    encoder.encode(p.metadata).byteLength > options.maxMetadataBytes
  ) {
    return OFFSET_METADATA_TOO_LARGE;
  }
  return ErrorCode.NONE;
}
