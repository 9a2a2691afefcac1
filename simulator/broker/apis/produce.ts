/**
 * Produce (key 0), v3-v8 (record batch v2 only): validates every batch
 * (length, magic, CRC-32C, size limit), assigns offsets in place and appends
 * the bytes as they came. Batches of an idempotent or transactional producer
 * are checked by the transaction coordinator first (epoch, sequence, partition
 * added to the transaction); a retried batch answers its first offset.
 * acks=0 gets no response; acks=1 and acks=-1 are answered once the batches
 * are in the log files (see README for fsync), the partitions of one request
 * written at the same time. A transactional producer's batches are answered
 * once appended, so that its next request arrives while they are written:
 * none of them can be committed before EndTxn, which answers only once they
 * are all in the files, and a broker that restarts meanwhile has forgotten
 * the transaction, so the producer can only abort it.
 */
import { type ApiHandler, ErrorCode, NO_RESPONSE } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import { BatchError, splitBatches } from "../record_batch.ts";
import type { BrokerState } from "../state.ts";
import type { PartitionLog } from "../log/mod.ts";

interface PartitionResult {
  index: number;
  error: number;
  baseOffset: number;
  logStartOffset: number;
  message: string | null;
}

/** The Produce handler. */
export function produceHandler(state: BrokerState): ApiHandler {
  return {
    apiKey: 0,
    name: "Produce",
    minVersion: 3,
    maxVersion: 8,
    firstFlexibleVersion: -1,
    async handle(body, header) {
      const v = header.apiVersion;
      const transactionalId = body.nullableString();
      const acks = body.int16();
      body.int32();
      const topics = body.array((r) => ({
        name: r.string(),
        partitions: r.array((r) => ({ index: r.int32(), records: r.nullableBytes() })),
      }));
      const written: { log: PartitionLog; result: PartitionResult }[] = [];
      const results = topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p): PartitionResult => {
          const log = state.store.partition(t.name, p.index);
          const result = {
            index: p.index,
            error: 0,
            baseOffset: -1,
            logStartOffset: -1,
            message: null,
          };
          if (!log) return { ...result, error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
          if (p.records === null || p.records.byteLength === 0) {
            return { ...result, error: ErrorCode.CORRUPT_MESSAGE, message: "Empty record set" };
          }
          try {
            const batches = splitBatches(p.records, state.maxMessageBytes);
            const check = state.transactions.checkProduce(
              transactionalId,
              { topic: t.name, partition: p.index, log },
              batches,
            );
            if (check.kind === "refuse") {
              return { ...result, error: check.error, message: check.message };
            }
            if (check.kind === "duplicate") {
              // Answered once the first attempt is written, as that one would have been.
              const duplicate = {
                ...result,
                baseOffset: check.baseOffset,
                logStartOffset: log.logStartOffset,
              };
              written.push({ log, result: duplicate });
              return duplicate;
            }
            const baseOffset = log.append(batches);
            state.transactions.appended(log, batches, baseOffset);
            for (const b of batches) state.stats.messagesIn += b.recordCount;
            const appended = { ...result, baseOffset, logStartOffset: log.logStartOffset };
            if (transactionalId === null) written.push({ log, result: appended });
            return appended;
          } catch (e) {
            if (e instanceof BatchError) {
              const error = e.code === "too_large"
                ? ErrorCode.MESSAGE_TOO_LARGE
                : ErrorCode.CORRUPT_MESSAGE;
              return { ...result, error, message: e.message };
            }
            console.error(JSON.stringify({
              component: "broker.produce",
              event: "append_failed",
              topic: t.name,
              partition: p.index,
              error: String(e),
            }));
            return { ...result, error: ErrorCode.KAFKA_STORAGE_ERROR, message: String(e) };
          }
        }),
      }));
      // The log reports the failed write itself (broker.log write_failed, naming the segment).
      await Promise.all(written.map(({ log, result }) =>
        log.settled().catch((e) => {
          Object.assign(result, {
            error: ErrorCode.KAFKA_STORAGE_ERROR,
            baseOffset: -1,
            message: String(e),
          });
        })
      ));
      if (acks === 0) return NO_RESPONSE;
      const w = new Writer();
      w.array(results, (w, t) => {
        w.string(t.name).array(t.partitions, (w, p) => {
          w.int32(p.index).int16(p.error).int64(p.baseOffset).int64(-1);
          if (v >= 5) w.int64(p.logStartOffset);
          if (v >= 8) w.int32(0).nullableString(p.message);
        });
      });
      w.int32(0);
      return w;
    },
  };
}
