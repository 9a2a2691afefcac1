/**
 * Connection behaviour: Fetch long polls woken by appends, responses in
 * request order on a pipelined connection, and a close that ends waiting
 * fetches at once.
 */
import assert from "node:assert/strict";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { Reader } from "../../../simulator/broker/protocol/reader.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";
import { ErrorCode } from "../../../simulator/broker/protocol/api.ts";
import { encodeBatch, produceBody, RawClient, readProduceResponse } from "./raw_client.ts";
import { readAlerts } from "./ztf_alerts.ts";
import { waitFor } from "../../support/wait.ts";

const alert = readAlerts("fink-broker-local-20200101", 1)[0].bytes;

function frame(apiKey: number, version: number, correlationId: number, body: Writer): Uint8Array {
  const w = new Writer().int16(apiKey).int16(version).int32(correlationId).nullableString("order");
  const bytes = new Writer().raw(w.bytes()).raw(body.bytes()).bytes();
  return new Writer().int32(bytes.byteLength).raw(bytes).bytes();
}

function longPoll(topic: string, offset: number, maxWaitMs: number): Writer {
  return new Writer().int32(-1).int32(maxWaitMs).int32(1).int32(1 << 20).int8(0)
    .array([topic], (w, t) => {
      w.string(t).array([0], (w) => void w.int32(0).int64(offset).int32(1 << 20));
    });
}

/** Records bytes of the only partition of a Fetch v4 response. */
function recordsOf(r: Reader): Uint8Array {
  r.int32();
  r.int32();
  r.string();
  r.int32();
  r.int32();
  assert.equal(r.int16(), ErrorCode.NONE);
  r.int64();
  r.int64();
  r.int32();
  return r.raw(r.int32());
}

Deno.test("a waiting Fetch is answered by an append, and pipelined answers keep request order", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  broker.createTopic("poll", 1);
  const consumer = await RawClient.connect(broker.port);
  const producer = await RawClient.connect(broker.port);
  try {
    // A 30 s long poll then an ApiVersions request, pipelined on one connection.
    await consumer.send(frame(1, 4, 100, longPoll("poll", 0, 30_000)));
    await consumer.send(frame(18, 0, 101, new Writer()));
    const first = consumer.readFrame();
    await waitFor("the broker to count the requests", () => broker.stats().requests >= 2, {
      timeoutMs: 5000,
      everyMs: 5,
    });
    const produced = readProduceResponse(
      await producer.request(0, 3, produceBody("poll", 0, encodeBatch([alert]))),
    );
    assert.equal(produced.error, ErrorCode.NONE);

    const fetchFrame = new Reader((await first)!);
    assert.equal(fetchFrame.int32(), 100);
    const records = recordsOf(fetchFrame);
    assert.ok(records.byteLength > alert.byteLength);
    const versionsFrame = new Reader((await consumer.readFrame())!);
    assert.equal(versionsFrame.int32(), 101);
    assert.equal(versionsFrame.int16(), ErrorCode.NONE);
  } finally {
    consumer.close();
    producer.close();
    await broker.close();
  }
});

Deno.test("closing the broker answers a waiting Fetch and ends its connection", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  broker.createTopic("idle", 1);
  const client = await RawClient.connect(broker.port);
  try {
    await client.send(frame(1, 4, 7, longPoll("idle", 0, 60_000)));
    await waitFor("the broker to count the requests", () => broker.stats().requests >= 1, {
      timeoutMs: 5000,
      everyMs: 5,
    });
    await broker.close();
    const answer = await client.readFrame();
    assert.ok(answer !== null);
    const r = new Reader(answer);
    assert.equal(r.int32(), 7);
    assert.equal(recordsOf(r).byteLength, 0);
    assert.ok(await client.closedByPeer());
  } finally {
    client.close();
  }
});

Deno.test("acks=0 produce gets no response and the next request is answered", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  broker.createTopic("fire", 1);
  const client = await RawClient.connect(broker.port);
  try {
    await client.send(frame(0, 3, 1, produceBody("fire", 0, encodeBatch([alert]), 0)));
    const r = await client.request(0, 3, produceBody("fire", 0, encodeBatch([alert])));
    const answer = readProduceResponse(r);
    assert.equal(answer.error, ErrorCode.NONE);
    assert.equal(answer.baseOffset, 1n);
  } finally {
    client.close();
    await broker.close();
  }
});
