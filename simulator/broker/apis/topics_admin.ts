/**
 * CreateTopics (key 19), v0-v4, and DeleteTopics (key 20), v0-v3. Topics have
 * one replica (this broker): a replication factor above 1 is refused, and
 * topic configs are accepted but ignored (the broker's limits apply).
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import { TopicError } from "../log/mod.ts";
import type { BrokerState } from "../state.ts";

const TOPIC_ERRORS = {
  invalid_name: ErrorCode.INVALID_TOPIC_EXCEPTION,
  exists: ErrorCode.TOPIC_ALREADY_EXISTS,
  invalid_partitions: ErrorCode.INVALID_PARTITIONS,
} as const;

/** The CreateTopics handler. */
export function createTopicsHandler(state: BrokerState): ApiHandler {
  return {
    apiKey: 19,
    name: "CreateTopics",
    minVersion: 0,
    maxVersion: 4,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const v = header.apiVersion;
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.int32(),
        replicationFactor: r.int16(),
        assignments: r.array((r) => ({ index: r.int32(), brokers: r.array((r) => r.int32()) })),
        configs: r.array((r) => ({ name: r.string(), value: r.nullableString() })),
      }));
      body.int32();
      const validateOnly = v >= 1 ? body.boolean() : false;
      const results = topics.map((t) => {
        const partitions = t.assignments.length > 0
          ? t.assignments.length
          : t.partitions === -1
          ? state.defaultPartitions
          : t.partitions;
        if (t.replicationFactor > 1 || t.replicationFactor === 0 || t.replicationFactor < -1) {
          return {
            name: t.name,
            error: ErrorCode.INVALID_REPLICATION_FACTOR,
            message:
              `Replication factor ${t.replicationFactor} is not possible with one broker: use 1 or -1`,
          };
        }
        try {
          state.store.createTopic(t.name, partitions, validateOnly);
          return { name: t.name, error: ErrorCode.NONE, message: null };
        } catch (e) {
          if (!(e instanceof TopicError)) throw e;
          return { name: t.name, error: TOPIC_ERRORS[e.code], message: e.message };
        }
      });
      const w = new Writer();
      if (v >= 2) w.int32(0);
      w.array(results, (w, r) => {
        w.string(r.name).int16(r.error);
        if (v >= 1) w.nullableString(r.message);
      });
      return w;
    },
  };
}

/** The DeleteTopics handler. */
export function deleteTopicsHandler(state: BrokerState): ApiHandler {
  return {
    apiKey: 20,
    name: "DeleteTopics",
    minVersion: 0,
    maxVersion: 3,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const names = body.array((r) => r.string());
      body.int32();
      const w = new Writer();
      if (header.apiVersion >= 1) w.int32(0);
      w.array(names, (w, name) => {
        const deleted = state.store.deleteTopic(name);
        w.string(name).int16(deleted ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      });
      return w;
    },
  };
}
