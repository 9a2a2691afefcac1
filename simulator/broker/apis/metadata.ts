/**
 * Metadata (key 3), v0-v8: this single broker is the controller and the
 * leader, only replica and only in-sync replica of every partition. Requested
 * topics that do not exist are created when auto-creation is on (and, from
 * v4, allowed by the request).
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import { TopicError } from "../log/mod.ts";
import type { BrokerState } from "../state.ts";

/** Cluster id reported in Metadata v2+. */
export const CLUSTER_ID = "fink-embedded-broker";

/** The Metadata handler. */
export function metadataHandler(state: BrokerState): ApiHandler {
  return {
    apiKey: 3,
    name: "Metadata",
    minVersion: 0,
    maxVersion: 8,
    firstFlexibleVersion: -1,
    handle(body, header, ctx) {
      const v = header.apiVersion;
      const requested = body.nullableArray((r) => r.string());
      const allowCreate = (v >= 4 ? body.boolean() : true) && state.autoCreateTopics;
      if (v >= 8) {
        body.boolean();
        body.boolean();
      }
      // v0 has no null: an empty list means every topic.
      const all = requested === null || (v === 0 && requested.length === 0);
      const names = all ? state.store.topics().map((t) => t.name) : [...new Set(requested)];
      const topics = names.map((name) => {
        let error: number = ErrorCode.NONE;
        if (state.store.partitionsOf(name) === undefined) {
          error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          if (allowCreate) {
            try {
              state.store.createTopic(name, state.defaultPartitions);
              error = ErrorCode.NONE;
            } catch (e) {
              if (!(e instanceof TopicError)) throw e;
              error = e.code === "invalid_name"
                ? ErrorCode.INVALID_TOPIC_EXCEPTION
                : ErrorCode.NONE;
            }
          }
        }
        return { name, error, partitions: state.store.partitionsOf(name) ?? 0 };
      });
      const node = ctx.broker.nodeId;
      const w = new Writer();
      if (v >= 3) w.int32(0);
      w.array([ctx.broker], (w, b) => {
        w.int32(b.nodeId).string(b.host).int32(b.port);
        if (v >= 1) w.nullableString(null);
      });
      if (v >= 2) w.nullableString(CLUSTER_ID);
      if (v >= 1) w.int32(node);
      w.array(topics, (w, t) => {
        w.int16(t.error).string(t.name);
        if (v >= 1) w.boolean(false);
        w.int32(t.partitions);
        for (let p = 0; p < t.partitions; p++) {
          w.int16(ErrorCode.NONE).int32(p).int32(node);
          if (v >= 7) w.int32(0);
          w.int32(1).int32(node);
          w.int32(1).int32(node);
          if (v >= 5) w.int32(0);
        }
        if (v >= 8) w.int32(-2147483648);
      });
      if (v >= 8) w.int32(-2147483648);
      return w;
    },
  };
}
