/**
 * OffsetFetch (key 9), v0–5. v2 adds a group-level error code and null topics
 * meaning every topic the group committed, v3 the throttle time, v5 the
 * leader epoch (always -1 here).
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import type { Reader } from "../protocol/reader.ts";
import { Writer } from "../protocol/writer.ts";
import type { OffsetStore } from "./offset_store.ts";

interface TopicRequest {
  name: string;
  partitions: number[];
}

/** The OffsetFetch handler: offset -1 and empty metadata where nothing was committed. */
export function offsetFetchHandler(offsets: OffsetStore): ApiHandler {
  return {
    apiKey: 9,
    name: "OffsetFetch",
    minVersion: 0,
    maxVersion: 5,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const version = header.apiVersion;
      const groupId = body.string();
      const readTopic = (r: Reader): TopicRequest => ({
        name: r.string(),
        partitions: r.array((p) => p.int32()),
      });
      const requested = version >= 2 ? body.nullableArray(readTopic) : body.array(readTopic);
      const topics = requested ?? allCommitted(offsets, groupId);

      const w = new Writer();
      if (version >= 3) w.int32(0);
      w.array(topics, (w, t) => {
        w.string(t.name).array(t.partitions, (w, partition) => {
          const committed = offsets.get(groupId, t.name, partition);
          w.int32(partition).int64(committed?.offset ?? -1n);
          if (version >= 5) w.int32(-1);
          w.nullableString(committed?.metadata ?? "").int16(ErrorCode.NONE);
        });
      });
      if (version >= 2) w.int16(ErrorCode.NONE);
      return w;
    },
  };
}

function allCommitted(offsets: OffsetStore, groupId: string): TopicRequest[] {
  return [...offsets.topics(groupId)].map(([name, partitions]) => ({
    name,
    partitions: [...partitions.keys()].sort((a, b) => a - b),
  }));
}
