/**
 * A partition log on disk assigns offsets when a batch is appended and shows
 * it only once it is in the file: the high watermark, the transaction index
 * (so the last stable offset), the wake-up of waiting fetches and the
 * deletion of segments all follow the written prefix. Produce answers once
 * its batches are in the file: a failed write is its answer. A transaction's
 * batches are answered at once, and its EndTxn once they are in the file.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { crc32c } from "../../../core/source/crc32c.ts";
import { BatchCache } from "../../../simulator/broker/log/batch_cache.ts";
import { PartitionLog } from "../../../simulator/broker/log/mod.ts";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { ErrorCode } from "../../../simulator/broker/protocol/api.ts";
import {
  type BatchInfo,
  controlBatch,
  readBatchHeader,
} from "../../../simulator/broker/record_batch.ts";
import { encodeBatch, produceBody, RawClient, readProduceResponse } from "./raw_client.ts";
import { readAlerts } from "./ztf_alerts.ts";

const alerts = readAlerts("fink-broker-all-distribute-20231018", 3).map((a) => a.bytes);
const PRODUCER = 4242n;

/** One real alert as a batch of `PRODUCER`'s transaction. */
function transactionalBatch(value: Uint8Array): BatchInfo {
  const bytes = encodeBatch([value]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt16(21, 0x10);
  view.setBigInt64(43, PRODUCER);
  view.setInt16(51, 0);
  view.setInt32(53, 0);
  view.setUint32(17, crc32c(bytes.subarray(21)));
  return readBatchHeader(bytes);
}

function plainBatch(value: Uint8Array): BatchInfo {
  return readBatchHeader(encodeBatch([value]));
}

async function withLog(
  options: { segmentBytes?: number },
  run: (log: PartitionLog) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "partition-log-" });
  const log = PartitionLog.open({
    dir,
    segmentBytes: options.segmentBytes ?? 1 << 30,
    segmentMs: 3_600_000,
    cache: new BatchCache(0),
  });
  try {
    await run(log);
  } finally {
    await log.settled();
    log.destroy();
  }
}

Deno.test("a batch on disk is served, and its transaction seen, only once it is in the file", async () => {
  await withLog({}, async (log) => {
    const batch = transactionalBatch(alerts[0]);
    const size = batch.bytes.byteLength;
    assert.equal(log.append([batch]), 0);
    assert.equal(log.logEndOffset, 1);
    assert.equal(log.highWatermark, 0, "nothing is visible before the write lands");
    assert.deepEqual(log.transactions.openProducers(), []);
    assert.ok(
      log.segments[0].batches[0],
      "a batch the cache dropped stays in memory until written",
    );

    await log.settled();
    assert.equal(log.highWatermark, 1);
    assert.deepEqual(log.transactions.openProducers(), [PRODUCER]);
    assert.equal(log.transactions.lastStableOffset(log.highWatermark), 0);
    assert.equal(log.segments[0].batches[0], null, "dropped from memory once written");
    assert.equal((await Deno.stat(log.segments[0].path!)).size, size);
    const [read] = log.read(0, 1 << 20, true);
    assert.deepEqual(read, batch.bytes);

    log.append([
      controlBatch({ producerId: PRODUCER, producerEpoch: 0, commit: true, timestamp: 1 }),
    ]);
    assert.equal(
      log.transactions.lastStableOffset(log.highWatermark),
      0,
      "the transaction stays open until its marker is written",
    );
    await log.settled();
    assert.equal(log.highWatermark, 2);
    assert.equal(log.transactions.lastStableOffset(log.highWatermark), 2);
  });
});

Deno.test("waiting fetches are woken when a batch is written, not when it is appended", async () => {
  await withLog({}, async (log) => {
    const woken: number[] = [];
    log.onAppend(() => woken.push(log.highWatermark));
    log.append([plainBatch(alerts[0])]);
    assert.deepEqual(woken, []);
    await log.settled();
    assert.deepEqual(woken, [1]);
  });
});

/** Handles this process holds open on files of `dir`. */
function handlesUnder(dir: string): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(dir)) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

Deno.test("a rolled segment's write handle is closed once its batches are written", async () => {
  await withLog({ segmentBytes: 1 }, async (log) => {
    for (const a of alerts) log.append([plainBatch(a)]);
    await log.settled();
    assert.equal(log.segments.length, 3);
    const dir = log.options.dir!;
    assert.equal(
      handlesUnder(dir),
      3 + 1,
      "a read handle per segment, a write handle for the last",
    );
  });
});

Deno.test("retention leaves a segment whose batches are not written yet", async () => {
  await withLog({ segmentBytes: 1 }, async (log) => {
    for (const a of alerts) log.append([plainBatch(a)]);
    assert.equal(log.segments.length, 3);
    const limits = { retentionBytes: 0, retentionMs: -1 };
    assert.equal(log.enforceRetention(limits), 0);
    await log.settled();
    assert.equal(log.enforceRetention(limits), 2);
    assert.equal(log.logStartOffset, 2);
  });
});

/** A broker whose partition `full-0` is /dev/full, where every write fails (ENOSPC). */
async function brokerOnFullDisk(run: (port: number, address: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "partition-log-full-" });
  await Deno.mkdir(join(dir, "full-0"));
  await Deno.symlink("/dev/full", join(dir, "full-0", `${"0".repeat(20)}.log`));
  const broker = await startBroker({ port: 0, dataDir: dir });
  try {
    await run(broker.port, broker.address);
  } finally {
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a write that fails is answered as a storage error, and the partition takes nothing more", async () => {
  await brokerOnFullDisk(async (port) => {
    const client = await RawClient.connect(port);
    try {
      for (let i = 0; i < 2; i++) {
        const body = produceBody("full", 0, encodeBatch([alerts[0]]));
        const r = readProduceResponse(await client.request(0, 3, body));
        assert.equal(r.error, ErrorCode.KAFKA_STORAGE_ERROR);
      }
    } finally {
      client.close();
    }
  });
});

Deno.test("a transaction whose batches cannot be written does not commit", async () => {
  await brokerOnFullDisk(async (_port, address) => {
    const kafka = new Kafka({
      brokers: [address],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 10 },
    });
    const producer = kafka.producer({
      transactionalId: "full-disk",
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      await txn.send({ topic: "full", messages: [{ value: Buffer.from(alerts[0]) }] });
      await assert.rejects(txn.commit(), /Disk error/);
    } finally {
      await producer.disconnect();
    }
  });
});
