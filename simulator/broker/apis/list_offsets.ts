/**
 * ListOffsets (key 2), v1-v5: -1 answers the log end offset (the last stable
 * offset for read_committed), -2 the log start
 * offset, any other timestamp the first offset whose record timestamp is at
 * least that (-1 when none).
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { BrokerState } from "../state.ts";

const LATEST = -1;
const EARLIEST = -2;

/** The ListOffsets handler. */
export function listOffsetsHandler(state: BrokerState): ApiHandler {
  return {
    apiKey: 2,
    name: "ListOffsets",
    minVersion: 1,
    maxVersion: 5,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const v = header.apiVersion;
      body.int32();
      const readCommitted = v >= 2 && body.int8() === 1;
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.array((r) => {
          const index = r.int32();
          if (v >= 4) r.int32();
          return { index, timestamp: Number(r.int64()) };
        }),
      }));
      const w = new Writer();
      if (v >= 2) w.int32(0);
      w.array(topics, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => {
          const log = state.store.partition(t.name, p.index);
          let error: number = ErrorCode.NONE;
          let offset = -1;
          if (!log) error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (p.timestamp === LATEST) {
            offset = readCommitted
              ? log.transactions.lastStableOffset(log.highWatermark)
              : log.highWatermark;
          } else if (p.timestamp === EARLIEST) offset = log.logStartOffset;
          else offset = log.offsetForTimestamp(p.timestamp) ?? -1;
          const timestamp = p.timestamp < 0 || offset < 0 ? -1 : p.timestamp;
          w.int32(p.index).int16(error).int64(timestamp).int64(offset);
          if (v >= 4) w.int32(error === ErrorCode.NONE ? 0 : -1);
        });
      });
      return w;
    },
  };
}
