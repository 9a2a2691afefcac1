/**
 * Fetch (key 1), v4-v11: returns whole stored batches (views of the cache or
 * of one file read, never re-encoded) from each requested offset, within the
 * partition and response byte limits; waits up to max_wait_ms for min_bytes,
 * woken by appends. Fetch sessions are not kept (session id 0: every request
 * is a full fetch). read_committed stops at the last stable offset (before the
 * oldest open transaction) and lists the aborted transactions of the range
 * returned, which the client drops (KIP-98).
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import type { Reader } from "../protocol/reader.ts";
import { Writer } from "../protocol/writer.ts";
import type { PartitionLog } from "../log/mod.ts";
import type { AbortedTransaction } from "../log/transaction_index.ts";
import { batchBaseOffset, readBatchHeader } from "../record_batch.ts";
import type { BrokerState } from "../state.ts";

interface PartitionRequest {
  index: number;
  fetchOffset: number;
  maxBytes: number;
}

interface TopicRequest {
  name: string;
  partitions: PartitionRequest[];
}

interface PartitionAnswer {
  index: number;
  error: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  aborted: AbortedTransaction[];
  batches: Uint8Array[];
  bytes: number;
}

function readRequest(body: Reader, v: number) {
  body.int32();
  const maxWaitMs = body.int32();
  const minBytes = body.int32();
  const maxBytes = body.int32();
  const readCommitted = body.int8() === 1;
  if (v >= 7) {
    body.int32();
    body.int32();
  }
  const topics: TopicRequest[] = body.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => {
      const index = r.int32();
      if (v >= 9) r.int32();
      const fetchOffset = Number(r.int64());
      if (v >= 5) r.int64();
      return { index, fetchOffset, maxBytes: r.int32() };
    }),
  }));
  if (v >= 7) body.array((r) => ({ name: r.string(), partitions: r.array((r) => r.int32()) }));
  if (v >= 11) body.string();
  return { maxWaitMs, minBytes, maxBytes, readCommitted, topics };
}

/** The Fetch handler. */
export function fetchHandler(state: BrokerState): ApiHandler {
  function collect(topics: TopicRequest[], maxBytes: number, readCommitted: boolean) {
    let total = 0;
    let errors = false;
    const answers = topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): PartitionAnswer => {
        const log = state.store.partition(t.name, p.index);
        const answer = {
          index: p.index,
          error: 0,
          highWatermark: -1,
          lastStableOffset: -1,
          logStartOffset: -1,
          aborted: [] as AbortedTransaction[],
          batches: [] as Uint8Array[],
          bytes: 0,
        };
        if (!log) {
          errors = true;
          return { ...answer, error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        }
        answer.highWatermark = log.highWatermark;
        answer.lastStableOffset = log.transactions.lastStableOffset(log.highWatermark);
        answer.logStartOffset = log.logStartOffset;
        if (p.fetchOffset < log.logStartOffset || p.fetchOffset > log.logEndOffset) {
          errors = true;
          return { ...answer, error: ErrorCode.OFFSET_OUT_OF_RANGE };
        }
        const end = readCommitted ? answer.lastStableOffset : log.highWatermark;
        if (p.fetchOffset >= end) return answer;
        const limit = Math.min(p.maxBytes, maxBytes - total);
        answer.batches = log.read(p.fetchOffset, limit, total === 0, end);
        for (const b of answer.batches) answer.bytes += b.byteLength;
        if (readCommitted && answer.batches.length > 0) {
          const last = readBatchHeader(answer.batches[answer.batches.length - 1]);
          answer.aborted = log.transactions.abortedBetween(
            p.fetchOffset,
            batchBaseOffset(last.bytes) + last.lastOffsetDelta + 1,
          );
        }
        total += answer.bytes;
        return answer;
      }),
    }));
    return { answers, total, errors };
  }

  function logsOf(topics: TopicRequest[]): PartitionLog[] {
    const logs: PartitionLog[] = [];
    for (const t of topics) {
      for (const p of t.partitions) {
        const log = state.store.partition(t.name, p.index);
        if (log) logs.push(log);
      }
    }
    return logs;
  }

  return {
    apiKey: 1,
    name: "Fetch",
    minVersion: 4,
    maxVersion: 11,
    firstFlexibleVersion: -1,
    async handle(body, header) {
      const v = header.apiVersion;
      const request = readRequest(body, v);
      const deadline = Date.now() + Math.max(0, request.maxWaitMs);
      let result = collect(request.topics, request.maxBytes, request.readCommitted);
      while (
        result.total < request.minBytes && !result.errors && !state.closing.aborted &&
        Date.now() < deadline
      ) {
        await appendOrTimeout(logsOf(request.topics), deadline - Date.now(), state.closing);
        result = collect(request.topics, request.maxBytes, request.readCommitted);
      }
      const w = new Writer().int32(0);
      if (v >= 7) w.int16(ErrorCode.NONE).int32(0);
      w.array(result.answers, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => {
          w.int32(p.index).int16(p.error).int64(p.highWatermark).int64(p.lastStableOffset);
          if (v >= 5) w.int64(p.logStartOffset);
          w.array(p.aborted, (w, a) => void w.int64(a.producerId).int64(a.firstOffset));
          if (v >= 11) w.int32(-1);
          w.int32(p.bytes);
          for (const b of p.batches) {
            w.raw(b);
            state.stats.messagesOut += new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(
              57,
            );
          }
        });
      });
      return w;
    },
  };
}

/** Resolves on the next append to any of `logs`, after `ms`, or when the broker closes. */
function appendOrTimeout(logs: PartitionLog[], ms: number, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const cancels: (() => void)[] = [];
    const done = () => {
      clearTimeout(timer);
      for (const c of cancels) c();
      closing.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    closing.addEventListener("abort", done);
    for (const log of logs) cancels.push(log.onAppend(done));
  });
}
