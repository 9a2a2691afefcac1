/**
 * Disk persistence: a broker restarted on the same data folder keeps every
 * topic, message and offset, and cuts a torn or garbage tail off a segment.
 */
import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { Reader } from "../../../simulator/broker/protocol/reader.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";
import { ErrorCode } from "../../../simulator/broker/protocol/api.ts";
import { encodeBatch, produceBody, RawClient, readProduceResponse } from "./raw_client.ts";
import { readAlerts, sameBytes } from "./ztf_alerts.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

const SEGMENT = `${"0".repeat(20)}.log`;

async function produce(broker: Broker, topic: string, values: Buffer[], partition = 0) {
  const kafka = new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "restart",
  });
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const value of values) await producer.send({ topic, messages: [{ value, partition }] });
  } finally {
    await producer.disconnect();
  }
}

/** Fetches every record value of one partition with raw Fetch v4 requests (uncompressed batches). */
async function fetchValues(broker: Broker, topic: string, partition = 0): Promise<Uint8Array[]> {
  const client = await RawClient.connect(broker.port);
  const values: Uint8Array[] = [];
  try {
    for (;;) {
      const request = new Writer().int32(-1).int32(0).int32(0).int32(64 << 20).int8(0)
        .array([topic], (w, t) => {
          w.string(t).array(
            [partition],
            (w, p) => void w.int32(p).int64(values.length).int32(16 << 20),
          );
        });
      const r = await client.request(1, 4, request);
      r.int32();
      r.int32();
      r.string();
      r.int32();
      r.int32();
      assert.equal(r.int16(), ErrorCode.NONE);
      r.int64();
      r.int64();
      r.int32();
      const records = r.raw(r.int32());
      if (records.byteLength === 0) return values;
      for (const value of decodeValues(records)) values.push(value);
    }
  } finally {
    client.close();
  }
}

function decodeValues(records: Uint8Array): Uint8Array[] {
  const r = new Reader(records);
  const out: Uint8Array[] = [];
  while (r.remaining > 0) {
    r.int64();
    const length = r.int32();
    const batch = new Reader(r.raw(length));
    batch.raw(4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4);
    const count = batch.int32();
    for (let i = 0; i < count; i++) {
      batch.varint();
      batch.int8();
      batch.varlong();
      batch.varint();
      const keyLength = batch.varint();
      if (keyLength > 0) batch.raw(keyLength);
      out.push(batch.raw(batch.varint()));
      const headers = batch.varint();
      for (let h = 0; h < headers; h++) {
        batch.raw(batch.varint());
        const v = batch.varint();
        if (v > 0) batch.raw(v);
      }
    }
  }
  return out;
}

async function offsets(broker: Broker, topic: string) {
  const kafka = new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "restart",
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
  } finally {
    await admin.disconnect();
  }
}

Deno.test("a restarted broker keeps every topic, message and offset", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "broker_restart_" });
  const alerts = readAlerts("fink-broker-local-20200101", 12).map((a) => a.bytes);
  try {
    let broker = await startBroker({ port: 0, dataDir });
    try {
      broker.createTopic("kept", 2);
      await produce(broker, "kept", alerts.slice(0, 8), 0);
      await produce(broker, "kept", alerts.slice(8), 1);
    } finally {
      await broker.close();
    }
    broker = await startBroker({ port: 0, dataDir });
    try {
      assert.deepEqual(broker.topics(), [{ name: "kept", partitions: 2 }]);
      assert.deepEqual(await offsets(broker, "kept"), [
        { partition: 0, low: 0, high: 8 },
        { partition: 1, low: 0, high: 4 },
      ]);
      const p0 = await fetchValues(broker, "kept", 0);
      assert.equal(p0.length, 8);
      p0.forEach((v, i) => assert.ok(sameBytes(v, alerts[i])));
      // New messages continue the recovered offsets.
      await produce(broker, "kept", [alerts[0]], 1);
      assert.equal((await offsets(broker, "kept"))[1].high, 5);
      const p1 = await fetchValues(broker, "kept", 1);
      assert.deepEqual(
        p1.map((v) => v.byteLength),
        [...alerts.slice(8), alerts[0]].map((v) => v.byteLength),
      );
    } finally {
      await broker.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a torn or garbage segment tail is cut off on start", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "broker_torn_" });
  const alerts = readAlerts("fink-broker-local-20200101", 6).map((a) => a.bytes);
  const segment = join(dataDir, "torn-0", SEGMENT);
  try {
    let broker = await startBroker({ port: 0, dataDir });
    await produce(broker, "torn", alerts.slice(0, 5));
    await broker.close();
    const intact = (await Deno.stat(segment)).size;

    // Garbage appended after the last batch (a crash while writing noise).
    const garbage = new Uint8Array(5000).map((_, i) => (i * 131) & 0xff);
    await Deno.writeFile(segment, garbage, { append: true });
    broker = await startBroker({ port: 0, dataDir });
    try {
      assert.equal((await Deno.stat(segment)).size, intact);
      assert.deepEqual(await offsets(broker, "torn"), [{ partition: 0, low: 0, high: 5 }]);
      const values = await fetchValues(broker, "torn");
      values.forEach((v, i) => assert.ok(sameBytes(v, alerts[i])));
    } finally {
      await broker.close();
    }

    // The last batch cut in the middle (a crash during its write): it is dropped, the rest kept.
    await Deno.truncate(segment, intact - 1000);
    broker = await startBroker({ port: 0, dataDir });
    try {
      assert.deepEqual(await offsets(broker, "torn"), [{ partition: 0, low: 0, high: 4 }]);
      await produce(broker, "torn", [alerts[5]]);
      const values = await fetchValues(broker, "torn");
      assert.equal(values.length, 5);
      [...alerts.slice(0, 4), alerts[5]].forEach((a, i) => assert.ok(sameBytes(values[i], a)));
    } finally {
      await broker.close();
    }

    // A batch whose bytes were damaged on disk (CRC mismatch) ends the log there.
    const bytes = await Deno.readFile(segment);
    const firstSize = 12 + new DataView(bytes.buffer).getInt32(8);
    bytes[firstSize + 200] ^= 0xff;
    await Deno.writeFile(segment, bytes);
    broker = await startBroker({ port: 0, dataDir });
    try {
      assert.deepEqual(await offsets(broker, "torn"), [{ partition: 0, low: 0, high: 1 }]);
      const client = await RawClient.connect(broker.port);
      try {
        const r = readProduceResponse(
          await client.request(0, 3, produceBody("torn", 0, encodeBatch([alerts[2]]))),
        );
        assert.equal(r.error, ErrorCode.NONE);
        assert.equal(r.baseOffset, 1n);
      } finally {
        client.close();
      }
    } finally {
      await broker.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
