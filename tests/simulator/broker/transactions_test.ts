/**
 * Transactions and idempotent produce in the embedded broker, as kafkajs and
 * kcat (librdkafka, read_committed) use them: committed transactions are
 * seen, aborted ones are not, open ones hold read_committed readers back,
 * offsets sent in a transaction are stored only when it commits, a second
 * producer with the same transactional id fences the first, and a transaction
 * left open when the broker stopped is aborted when it starts again.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { waitFor } from "../../support/wait.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

function client(broker: Broker): Kafka {
  return new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING, clientId: "txn-test" });
}

function messages(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({ key: `${i}`, value: `${prefix}-${i}` }));
}

/** Every value of `topic` partition 0 that kcat reads at `isolation`, to the partition end. */
async function kcatValues(broker: Broker, topic: string, isolation: string): Promise<string[]> {
  const out = await new Deno.Command("kcat", {
    args: [
      "-b",
      broker.address,
      "-C",
      "-t",
      topic,
      "-p",
      "0",
      "-o",
      "beginning",
      "-e",
      "-q",
      "-X",
      `isolation.level=${isolation}`,
      "-f",
      "%s\n",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

/** Consumes `topic` from the beginning with kafkajs until `count` values came. */
async function kafkajsValues(
  broker: Broker,
  topic: string,
  count: number,
  readUncommitted = false,
): Promise<string[]> {
  const consumer = client(broker).consumer({
    groupId: `reader-${topic}-${readUncommitted}`,
    maxWaitTimeInMs: 100,
    readUncommitted,
  });
  const values: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        values.push(message.value!.toString());
        return Promise.resolve();
      },
    });
    await waitFor(`${count} values of ${topic}`, () => values.length >= count);
  } finally {
    await consumer.disconnect();
  }
  return values;
}

Deno.test("kafkajs transactions: committed records are read, aborted ones skipped, by kafkajs and kcat", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const kafka = client(broker);
  const producer = kafka.producer({
    transactionalId: "txn-a",
    maxInFlightRequests: 1,
    idempotent: true,
  });
  try {
    broker.createTopic("txn-out", 1);
    await producer.connect();
    const t1 = await producer.transaction();
    await t1.send({ topic: "txn-out", messages: messages("kept", 3) });
    await t1.commit();
    const t2 = await producer.transaction();
    await t2.send({ topic: "txn-out", messages: messages("dropped", 4) });
    await t2.abort();
    const t3 = await producer.transaction();
    await t3.send({ topic: "txn-out", messages: messages("later", 2) });
    await t3.commit();

    const expected = [...messages("kept", 3), ...messages("later", 2)].map((m) => m.value);
    assert.deepEqual(await kafkajsValues(broker, "txn-out", 5), expected);
    assert.deepEqual(await kcatValues(broker, "txn-out", "read_committed"), expected);
    const all = await kcatValues(broker, "txn-out", "read_uncommitted");
    assert.equal(all.length, 9, "read_uncommitted sees aborted records too");
  } finally {
    await producer.disconnect();
    await broker.close();
  }
});

Deno.test("an open transaction holds read_committed readers at its first offset until it ends", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const producer = client(broker).producer({
    transactionalId: "txn-open",
    maxInFlightRequests: 1,
    idempotent: true,
  });
  try {
    broker.createTopic("txn-lso", 1);
    await producer.connect();
    const plain = client(broker).producer();
    await plain.connect();
    await plain.send({ topic: "txn-lso", messages: messages("before", 2) });
    const open = await producer.transaction();
    await open.send({ topic: "txn-lso", messages: messages("open", 3) });
    await plain.send({ topic: "txn-lso", messages: messages("after", 1) });
    await plain.disconnect();
    assert.deepEqual(await kcatValues(broker, "txn-lso", "read_committed"), [
      "before-0",
      "before-1",
    ]);
    const admin = client(broker).admin();
    await admin.connect();
    const [latest] = await admin.fetchTopicOffsets("txn-lso");
    await admin.disconnect();
    assert.equal(latest.high, "2", "kafkajs lists read_committed offsets: the last stable one");
    await open.commit();
    assert.deepEqual(await kcatValues(broker, "txn-lso", "read_committed"), [
      "before-0",
      "before-1",
      "open-0",
      "open-1",
      "open-2",
      "after-0",
    ]);
  } finally {
    await producer.disconnect();
    await broker.close();
  }
});

Deno.test("offsets sent in a transaction are stored only when it commits", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const kafka = client(broker);
  const producer = kafka.producer({
    transactionalId: "txn-offsets",
    maxInFlightRequests: 1,
    idempotent: true,
  });
  const admin = kafka.admin();
  try {
    broker.createTopic("txn-progress", 1);
    await producer.connect();
    await admin.connect();
    const progress = async () =>
      (await admin.fetchOffsets({ groupId: "progress", topics: ["txn-progress"] }))[0]
        .partitions[0].offset;
    const aborted = await producer.transaction();
    await aborted.send({ topic: "txn-progress", messages: messages("x", 1) });
    await aborted.sendOffsets({
      consumerGroupId: "progress",
      topics: [{ topic: "txn-progress", partitions: [{ partition: 0, offset: "7" }] }],
    });
    await aborted.abort();
    assert.equal(await progress(), "-1");
    const committed = await producer.transaction();
    await committed.send({ topic: "txn-progress", messages: messages("y", 1) });
    await committed.sendOffsets({
      consumerGroupId: "progress",
      topics: [{ topic: "txn-progress", partitions: [{ partition: 0, offset: "9" }] }],
    });
    await committed.commit();
    assert.equal(await progress(), "9");
  } finally {
    await admin.disconnect();
    await producer.disconnect();
    await broker.close();
  }
});

Deno.test("a second producer with the same transactional id fences the first and aborts its transaction", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const kafka = client(broker);
  const first = kafka.producer({
    transactionalId: "txn-fence",
    maxInFlightRequests: 1,
    idempotent: true,
    retry: { retries: 1 },
  });
  const second = kafka.producer({
    transactionalId: "txn-fence",
    maxInFlightRequests: 1,
    idempotent: true,
  });
  try {
    broker.createTopic("txn-fenced", 1);
    await first.connect();
    const stale = await first.transaction();
    await stale.send({ topic: "txn-fenced", messages: messages("stale", 2) });
    await second.connect();
    const fresh = await second.transaction();
    await assert.rejects(() => stale.commit());
    await fresh.send({ topic: "txn-fenced", messages: messages("fresh", 1) });
    await fresh.commit();
    assert.deepEqual(await kcatValues(broker, "txn-fenced", "read_committed"), ["fresh-0"]);
  } finally {
    await first.disconnect().catch(() => {});
    await second.disconnect();
    await broker.close();
  }
});

Deno.test("a transaction open when the broker stopped is aborted when it starts on the same folder", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "txn-restart-" });
  let broker = await startBroker({ port: 0, dataDir });
  const producer = client(broker).producer({
    transactionalId: "txn-restart",
    maxInFlightRequests: 1,
    idempotent: true,
  });
  try {
    broker.createTopic("txn-restart", 1);
    await producer.connect();
    const done = await producer.transaction();
    await done.send({ topic: "txn-restart", messages: messages("done", 2) });
    await done.commit();
    const open = await producer.transaction();
    await open.send({ topic: "txn-restart", messages: messages("open", 2) });
    await producer.disconnect();
    await broker.close();
    broker = await startBroker({ port: 0, dataDir });
    assert.deepEqual(await kcatValues(broker, "txn-restart", "read_committed"), [
      "done-0",
      "done-1",
    ]);
    assert.deepEqual(await kafkajsValues(broker, "txn-restart", 2), ["done-0", "done-1"]);
  } finally {
    await broker.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an idempotent producer (InitProducerId, sequences) writes each batch once", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const producer = client(broker).producer({ idempotent: true, maxInFlightRequests: 1 });
  try {
    broker.createTopic("idem", 1);
    await producer.connect();
    for (let i = 0; i < 3; i++) {
      await producer.send({ topic: "idem", messages: messages(`b${i}`, 2) });
    }
    assert.equal((await kcatValues(broker, "idem", "read_committed")).length, 6);
  } finally {
    await producer.disconnect();
    await broker.close();
  }
});
