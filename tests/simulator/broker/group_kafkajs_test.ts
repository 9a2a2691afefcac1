/**
 * kafkajs 2.2.4 consumer groups against the embedded broker with real ZTF
 * alerts: rebalances while consuming lose and repeat nothing, and committed
 * offsets are honoured after reconnecting and after a broker restart.
 */
import assert from "node:assert/strict";
import { type Admin, AssignerProtocol, type Consumer, Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { type Alert, readAlerts } from "./group_interop.ts";
import { waitFor } from "../../support/wait.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

function client(broker: Broker): Kafka {
  return new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "group-test",
  });
}

async function produce(kafka: Kafka, topic: string, alerts: Alert[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: alerts.map((a) => ({ key: a.key, value: a.bytes })) });
  } finally {
    await producer.disconnect();
  }
}

/** DescribeGroups as an operator reads it: state and each client's partitions of `topic`. */
async function describe(admin: Admin, groupId: string, topic: string) {
  const { groups: [group] } = await admin.describeGroups([groupId]);
  return {
    state: group.state,
    protocol: group.protocol,
    members: group.members.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      partitions: AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic]
        ?.sort() ?? [],
    })),
  };
}

/** Total committed offset of a group over a topic's partitions (-1 counts as 0). */
async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

Deno.test("kafkajs: two members consume through a third joining and one leaving, every alert exactly once", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const topic = "ztf-group-rebalance";
  const groupId = "rebalancing-group";
  broker.createTopic(topic, 4);
  const alerts = readAlerts(60);
  const bytesOf = new Map(alerts.map((a) => [a.key, a.bytes]));
  const kafka = client(broker);
  const admin = kafka.admin();
  const consumers = new Map<string, Consumer>();
  const assignments = new Map<string, number[]>();
  const memberIds = new Map<string, string>();
  const received: { key: string; consumer: string }[] = [];
  const corrupted: string[] = [];

  // Consumption stops after the 10th alert until the third member has started joining,
  // so that the rebalance meets members in the middle of a batch.
  const gate = Promise.withResolvers<void>();

  const start = async (name: string) => {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 6_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 200,
      maxWaitTimeInMs: 100,
    });
    consumers.set(name, consumer);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments.set(name, e.payload.memberAssignment[topic] ?? []);
      memberIds.set(name, e.payload.memberId);
    });
    consumer.on(consumer.events.REQUEST, (e) => {
      if (name === "c3" && e.payload.apiName === "JoinGroup") gate.resolve();
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (received.length >= 10) await gate.promise;
        const key = message.key?.toString() ?? "";
        const expected = bytesOf.get(key);
        if (!expected || !message.value || !expected.equals(message.value)) corrupted.push(key);
        received.push({ key, consumer: name });
      },
    });
  };
  /** True when exactly `names` hold assignments and they split the 4 partitions. */
  const shared = (...names: string[]) => {
    const parts = names.flatMap((n) => assignments.get(n) ?? [-1]).sort();
    return assignments.size === names.length && parts.join() === "0,1,2,3";
  };

  try {
    await admin.connect();
    await start("c1");
    await start("c2");
    await waitFor("c1 and c2 to share the partitions", () => shared("c1", "c2"));
    // DescribeGroups tells an operator what each member holds, as the members were told.
    const described = await describe(admin, groupId, topic);
    assert.equal(described.state, "Stable");
    assert.equal(described.protocol, "RoundRobinAssigner");
    assert.deepEqual(
      described.members.sort((a, b) => a.memberId.localeCompare(b.memberId)),
      ["c1", "c2"].map((name) => ({
        memberId: memberIds.get(name)!,
        clientId: "group-test",
        clientHost: "/127.0.0.1",
        partitions: [...assignments.get(name)!].sort(),
      })).sort((a, b) => a.memberId.localeCompare(b.memberId)),
    );
    assert.deepEqual(await describe(admin, "no-such-group", topic), {
      state: "Dead",
      protocol: "",
      members: [],
    });
    await produce(kafka, topic, alerts.slice(0, 20));
    await waitFor("the first alerts to be consumed", () => received.length >= 10);

    const third = start("c3");
    await produce(kafka, topic, alerts.slice(20, 40));
    await third;
    await waitFor("c1, c2 and c3 to share the partitions", () => shared("c1", "c2", "c3"));
    await waitFor("35 alerts to be consumed", () => received.length >= 35);

    // c1 leaves while the last alerts are being consumed.
    await produce(kafka, topic, alerts.slice(40));
    await consumers.get("c1")!.disconnect();
    consumers.delete("c1");
    assignments.delete("c1");
    await waitFor("c2 and c3 to share the partitions", () => shared("c2", "c3"));
    assert.deepEqual(
      (await describe(admin, groupId, topic)).members.flatMap((m) => m.partitions).sort(),
      [0, 1, 2, 3],
      "after c1 left, the two members described hold every partition",
    );
    await waitFor("every alert to be consumed", () => received.length >= alerts.length);
    // Once everything is committed no redelivery can still be on its way.
    await waitFor(
      "the group to commit every offset",
      async () => await committedTotal(admin, groupId, topic) === alerts.length,
    );

    assert.deepEqual(corrupted, []);
    assert.equal(received.length, alerts.length, "an alert was delivered twice");
    assert.deepEqual(received.map((r) => r.key).sort(), alerts.map((a) => a.key).sort());
    assert.ok(assignments.get("c3")!.length > 0);
  } finally {
    for (const consumer of consumers.values()) await consumer.disconnect();
    await admin.disconnect();
    await broker.close();
  }
});

/**
 * Runs a one-member group until `limit` messages were seen, committing each
 * of them on its own; later messages are neither recorded nor committed.
 */
async function consumeAndCommit(
  broker: Broker,
  { groupId, topic, limit }: { groupId: string; topic: string; limit: number },
): Promise<string[]> {
  const consumer = client(broker).consumer({
    groupId,
    maxWaitTimeInMs: 100,
    heartbeatInterval: 500,
  });
  const keys: string[] = [];
  const done = Promise.withResolvers<void>();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (keys.length >= limit) return;
        keys.push(message.key?.toString() ?? "");
        const offset = String(Number(message.offset) + 1);
        await consumer.commitOffsets([{ topic, partition, offset }]);
        if (keys.length === limit) done.resolve();
      },
    });
    await done.promise;
  } finally {
    await consumer.disconnect();
  }
  return keys;
}

Deno.test("kafkajs: a group resumes after its committed offsets when it reconnects and after a broker restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "group_kafkajs_" });
  const topic = "ztf-group-resume";
  const groupId = "resuming-group";
  const alerts = readAlerts(40);
  const keys = alerts.map((a) => a.key);
  let broker = await startBroker({ port: 0, dataDir });
  try {
    broker.createTopic(topic, 2);
    await produce(client(broker), topic, alerts.slice(0, 30));

    const first = await consumeAndCommit(broker, { groupId, topic, limit: 15 });
    const second = await consumeAndCommit(broker, { groupId, topic, limit: 15 });
    assert.equal(new Set([...first, ...second]).size, 30, "the second run repeated an alert");
    assert.deepEqual([...first, ...second].sort(), keys.slice(0, 30).sort());

    await broker.close();
    broker = await startBroker({ port: 0, dataDir });
    const admin = client(broker).admin();
    await admin.connect();
    try {
      assert.equal(await committedTotal(admin, groupId, topic), 30);
    } finally {
      await admin.disconnect();
    }
    await produce(client(broker), topic, alerts.slice(30));
    const third = await consumeAndCommit(broker, { groupId, topic, limit: 10 });
    assert.deepEqual(third.sort(), keys.slice(30).sort());
  } finally {
    await broker.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
