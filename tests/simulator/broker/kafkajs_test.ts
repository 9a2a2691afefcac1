/**
 * kafkajs 2.2.4 against the embedded broker: produce real ZTF alerts, consume
 * them back byte-identical with the right offsets, keyed messages spread over
 * partitions, and the admin API.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { readAlerts, sameBytes } from "./ztf_alerts.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

interface Received {
  partition: number;
  offset: number;
  key: string | null;
  value: Uint8Array;
}

/** Consumes `count` messages of `topic` from the beginning with a one-member group. */
async function consumeAll(broker: Broker, topic: string, count: number): Promise<Received[]> {
  const kafka = new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "test-consumer",
  });
  const consumer = kafka.consumer({ groupId: `test-${topic}`, maxWaitTimeInMs: 100 });
  const received: Received[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        eachMessage: ({ partition, message }) => {
          received.push({
            partition,
            offset: Number(message.offset),
            key: message.key?.toString() ?? null,
            value: message.value!,
          });
          if (received.length === count) resolve();
          return Promise.resolve();
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}

Deno.test("kafkajs producer to consumer: real alerts come back byte-identical with their offsets", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const alerts = readAlerts("fink-broker-local-20200101", 30);
  try {
    const kafka = new Kafka({
      brokers: [broker.address],
      logLevel: logLevel.NOTHING,
      clientId: "test",
    });
    const producer = kafka.producer();
    await producer.connect();
    // Two sends: the second must continue the offsets of the first.
    const first = await producer.send({
      topic: "ztf-alerts",
      messages: alerts.slice(0, 10).map((a) => ({ value: a.bytes })),
    });
    const second = await producer.send({
      topic: "ztf-alerts",
      messages: alerts.slice(10).map((a) => ({ value: a.bytes })),
    });
    await producer.disconnect();
    assert.equal(first[0].baseOffset, "0");
    assert.equal(second[0].baseOffset, "10");

    const received = await consumeAll(broker, "ztf-alerts", alerts.length);
    received.sort((a, b) => a.offset - b.offset);
    assert.deepEqual(received.map((r) => r.offset), alerts.map((_, i) => i));
    for (let i = 0; i < alerts.length; i++) {
      assert.ok(
        sameBytes(received[i].value, alerts[i].bytes),
        `message ${i} differs from ${alerts[i].path}`,
      );
    }
    assert.equal(broker.stats().messagesIn, alerts.length);
    assert.ok(broker.stats().messagesOut >= alerts.length);
  } finally {
    await broker.close();
  }
});

Deno.test("kafkajs keyed messages over 4 partitions keep per-partition order and key placement", async () => {
  const broker = await startBroker({ port: 0, dataDir: null, defaultPartitions: 4 });
  const alerts = readAlerts("fink-broker-all-distribute-20231018", 40);
  try {
    const kafka = new Kafka({
      brokers: [broker.address],
      logLevel: logLevel.NOTHING,
      clientId: "test",
    });
    const producer = kafka.producer();
    await producer.connect();
    const messages = alerts.map((a, i) => ({ key: `object-${i % 7}`, value: a.bytes }));
    for (let i = 0; i < messages.length; i += 8) {
      await producer.send({ topic: "keyed", messages: messages.slice(i, i + 8) });
    }
    await producer.disconnect();
    assert.deepEqual(broker.topics(), [{ name: "keyed", partitions: 4 }]);

    const received = await consumeAll(broker, "keyed", alerts.length);
    const partitionOfKey = new Map<string, number>();
    const byPartition = new Map<number, Received[]>();
    for (const r of received) {
      const seen = partitionOfKey.get(r.key!);
      assert.ok(seen === undefined || seen === r.partition, `key ${r.key} found in two partitions`);
      partitionOfKey.set(r.key!, r.partition);
      byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
    }
    assert.ok(byPartition.size > 1, "expected the 7 keys to use more than one partition");
    for (const list of byPartition.values()) {
      assert.deepEqual(list.map((r) => r.offset), list.map((_, i) => i));
    }
    // Per key, values arrive in production order.
    for (let k = 0; k < 7; k++) {
      const expected = messages.filter((m) => m.key === `object-${k}`).map((m) => m.value);
      const got = received.filter((r) => r.key === `object-${k}`).map((r) => r.value);
      assert.equal(got.length, expected.length);
      got.forEach((v, i) => assert.ok(sameBytes(v, expected[i])));
    }
  } finally {
    await broker.close();
  }
});

Deno.test("kafkajs admin: create, list, describe, offsets and delete topics", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const alerts = readAlerts("fink-broker-local-20200101", 5);
  const kafka = new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "test-admin",
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    assert.equal(
      await admin.createTopics({ topics: [{ topic: "a", numPartitions: 3 }, { topic: "b" }] }),
      true,
    );
    // Creating an existing topic reports it (TOPIC_ALREADY_EXISTS is not an error to kafkajs).
    assert.equal(await admin.createTopics({ topics: [{ topic: "a", numPartitions: 3 }] }), false);
    const errorType = (e: unknown) => (e as { errors?: { type?: string }[] }).errors?.[0]?.type;
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: "c", replicationFactor: 3 }] }),
      (e) => errorType(e) === "INVALID_REPLICATION_FACTOR",
    );
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: "bad name!" }] }),
      (e) => errorType(e) === "INVALID_TOPIC_EXCEPTION",
    );
    assert.equal(
      await admin.createTopics({
        validateOnly: true,
        waitForLeaders: false,
        topics: [{ topic: "only-validated" }],
      }),
      true,
    );
    assert.deepEqual((await admin.listTopics()).sort(), ["a", "b"]);

    const meta = await admin.fetchTopicMetadata({ topics: ["a"] });
    assert.equal(meta.topics[0].name, "a");
    assert.deepEqual(meta.topics[0].partitions.map((p) => p.partitionId).sort(), [0, 1, 2]);
    for (const p of meta.topics[0].partitions) {
      assert.equal(p.leader, 1);
      assert.deepEqual(p.replicas, [1]);
      assert.deepEqual(p.isr, [1]);
    }

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: "a",
      messages: alerts.map((a) => ({ value: a.bytes, partition: 1 })),
    });
    await producer.disconnect();
    const offsets = await admin.fetchTopicOffsets("a");
    offsets.sort((x, y) => x.partition - y.partition);
    assert.deepEqual(offsets.map((o) => [o.partition, o.low, o.high]), [
      [0, "0", "0"],
      [1, "0", String(alerts.length)],
      [2, "0", "0"],
    ]);

    await admin.deleteTopics({ topics: ["b"] });
    assert.deepEqual(await admin.listTopics(), ["a"]);
    assert.deepEqual(broker.topics(), [{ name: "a", partitions: 3 }]);
  } finally {
    await admin.disconnect();
    await broker.close();
  }
});
