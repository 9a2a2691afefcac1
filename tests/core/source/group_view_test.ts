/**
 * The consumer group as Kafka describes it: two Kafka sources of ours in one
 * group over the embedded broker; the view lists both members with the
 * partitions each says it owns and the lag of each (one commits everything it
 * reads, the other nothing). And a member whose handler holds a batch longer
 * than the session timeout stays in the group.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { createKafkaSource } from "../../../core/source/kafka.ts";
import { GroupDescriber } from "../../../core/source/group_view.ts";
import type { Source, SourceMessage } from "../../../core/source/source.ts";
import { waitFor } from "../../support/wait.ts";

const TOPIC = "ztf-group-view";

function source(address: string, clientId: string, group: string): Source {
  return createKafkaSource({
    brokers: [address],
    topics: [TOPIC],
    group,
    clientId,
    fromBeginning: true,
    sessionTimeoutMs: 6000,
    heartbeatMs: 500,
    rebalanceTimeoutMs: 5000,
  });
}

async function produce(address: string, perPartition: number, partitions: number): Promise<void> {
  const kafka = new Kafka({ brokers: [address], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let partition = 0; partition < partitions; partition++) {
    const messages = Array.from(
      { length: perPartition },
      (_, i) => ({ value: `${partition}/${i}` }),
    );
    await producer.send({ topic: TOPIC, messages: messages.map((m) => ({ ...m, partition })) });
  }
  await producer.disconnect();
}

Deno.test({
  name:
    "the group view lists every member with its partitions and its lag, as Kafka describes them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startBroker({ port: 0, dataDir: null });
    broker.createTopic(TOPIC, 4);
    const a = source(broker.address, "node-a", "view-group");
    const b = source(broker.address, "node-b", "view-group");
    const describer = new GroupDescriber({
      brokers: [broker.address],
      group: "view-group",
      clientId: "view-test",
      cacheMs: 0,
    });
    try {
      // node-a commits everything it reads, node-b nothing.
      await a.start({
        onMessages: (m: SourceMessage[]) => a.commit(m[0], m[m.length - 1].offset + 1n),
      });
      await b.start({ onMessages: () => Promise.resolve() });
      const split = await waitFor("the two nodes to split the partitions", () => {
        const [ma, mb] = [a.membership()!, b.membership()!];
        return Promise.resolve(
          ma.assigned.length + mb.assigned.length === 4 && mb.assigned.length > 0
            ? { ma, mb }
            : undefined,
        );
      });
      await produce(broker.address, 10, 4);
      const view = await waitFor("node-a's partitions to be committed", async () => {
        const v = await describer.describe(split.ma.memberId);
        const mine = v.members.find((m) => m.self);
        return v.state === "Stable" && mine?.lag === 0 ? v : undefined;
      });
      assert.equal(view.group, "view-group");
      assert.deepEqual(view.unassigned, []);
      assert.deepEqual(
        view.members.map((m) => ({
          clientId: m.clientId,
          memberId: m.memberId,
          self: m.self,
          clientHost: m.clientHost,
          partitions: m.partitions.map((p) => ({ topic: p.topic, partition: p.partition })),
        })),
        [{ ...split.ma, self: true }, { ...split.mb, self: false }].map((m) => ({
          clientId: m.clientId,
          memberId: m.memberId!,
          self: m.self,
          clientHost: "/127.0.0.1",
          partitions: m.assigned,
        })),
      );
      const nodeB = view.members.find((m) => m.clientId === "node-b")!;
      assert.equal(nodeB.lag, 10 * split.mb.assigned.length, "node-b committed nothing");
      assert.deepEqual(
        nodeB.partitions.map((p) => [p.committed, p.high]),
        split.mb.assigned.map(() => [null, "10"]),
      );
    } finally {
      await a.stop();
      await b.stop();
      await describer.close();
      await broker.close();
    }
  },
});

Deno.test({
  name: "a member whose handler holds a batch past the session timeout stays in the group",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startBroker({ port: 0, dataDir: null });
    broker.createTopic(TOPIC, 1);
    await produce(broker.address, 3, 1);
    const member = source(broker.address, "slow-node", "slow-group");
    try {
      const held = Promise.withResolvers<void>();
      let calls = 0;
      await member.start({
        async onMessages() {
          // The first batch is held for longer than the 6 s session (a slow storage write).
          if (calls++ === 0) await held.promise;
        },
      });
      await waitFor(
        "the batch to reach the handler",
        () => Promise.resolve(calls > 0 ? true : undefined),
      );
      const joined = member.membership()!;
      const released = setTimeout(held.resolve, 8000);
      await held.promise;
      clearTimeout(released);
      await produce(broker.address, 1, 1);
      await waitFor("the next batch", () => Promise.resolve(calls > 1 ? true : undefined));
      assert.deepEqual(
        member.membership(),
        joined,
        "the member was not dropped and did not join again",
      );
    } finally {
      await member.stop();
      await broker.close();
    }
  },
});
