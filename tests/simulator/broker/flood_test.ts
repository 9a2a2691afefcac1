/**
 * A flood of hostile connections (each announcing a 100 MB request and then
 * going quiet) neither takes the broker's memory nor stops a real kafkajs
 * client; connections past the cap are closed as they arrive.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { RawClient } from "./raw_client.ts";
import { waitFor } from "../../support/wait.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

const HOSTILE = 100;
const ANNOUNCED = 100 * 1024 * 1024;

/** A 100 MB frame size followed by 100 KB of its body, then silence. */
function hostileOpening(): Uint8Array {
  const bytes = new Uint8Array(4 + 100 * 1024);
  new DataView(bytes.buffer).setInt32(0, ANNOUNCED);
  return bytes;
}

Deno.test("100 connections announcing 100 MB frames leave memory bounded, kafkajs consuming and the API answering", async () => {
  const broker = await startBroker({
    port: 0,
    dataDir: null,
    maxInflightBytes: 256 * 1024 * 1024,
    frameTimeoutMs: 2_000,
  });
  broker.createTopic("flood", 1);
  const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: "flood", maxWaitTimeInMs: 100 });
  const hostile: RawClient[] = [];
  const received: string[] = [];
  // An HTTP API in the same process, as the running node serves it beside the broker.
  const api = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: "flood", fromBeginning: true });
    void consumer.run({
      eachMessage: ({ message }) => {
        received.push(message.value!.toString());
        return Promise.resolve();
      },
    });
    await producer.send({ topic: "flood", messages: [{ value: "before" }] });
    await waitFor("the message sent before the flood", () => received.length === 1);

    const external = Deno.memoryUsage().external;
    for (let i = 0; i < HOSTILE; i++) {
      const client = await RawClient.connect(broker.port);
      await client.send(hostileOpening());
      hostile.push(client);
    }
    await waitFor("every hostile connection accepted", () => broker.stats().connections >= HOSTILE);
    // Produced and consumed while the hostile frames are open.
    for (let i = 0; i < 20; i++) {
      await producer.send({ topic: "flood", messages: [{ value: `during ${i}` }] });
    }
    await waitFor("20 messages consumed during the flood", () => received.length === 21);
    const answer = await fetch(`http://127.0.0.1:${api.addr.port}/`);
    assert.equal(await answer.text(), "ok", "the API answers during the flood");
    const stats = broker.stats();
    assert.ok(stats.bytesInFlight <= 256 * 1024 * 1024, `${stats.bytesInFlight} bytes in flight`);
    const grown = Deno.memoryUsage().external - external;
    assert.ok(
      grown < 512 * 1024 * 1024,
      `memory grew by ${Math.round(grown / 2 ** 20)} MB for ${HOSTILE} announced 100 MB frames`,
    );
    // Those reading their frame and then silent are cut off, giving the room to the next.
    await waitFor("stalled frames disconnected", () => broker.stats().connectionsRejected >= 2);
    await producer.send({ topic: "flood", messages: [{ value: "after" }] });
    await waitFor("the message sent after", () => received.includes("after"));
  } finally {
    for (const client of hostile) client.close();
    await consumer.disconnect();
    await producer.disconnect();
    await broker.close();
    await api.shutdown();
  }
});

Deno.test("connections past simulator.max_connections are closed; open clients keep working", async () => {
  const broker = await startBroker({ port: 0, dataDir: null, maxConnections: 10 });
  const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const extra: RawClient[] = [];
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "capped", numPartitions: 1 }] });
    const open = broker.stats().connections;
    for (let i = open; i < 15; i++) extra.push(await RawClient.connect(broker.port));
    const refused = extra.slice(10 - open);
    for (const client of refused) assert.ok(await client.closedByPeer(), "closed on arrival");
    assert.equal(broker.stats().connectionsRefused, refused.length);
    assert.deepEqual(await admin.listTopics(), ["capped"]);
  } finally {
    for (const client of extra) client.close();
    await admin.disconnect();
    await broker.close();
  }
});
