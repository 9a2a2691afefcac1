/**
 * The group handlers' wire formats checked against kafkajs 2.2.4's own
 * request encoders and response decoders, at every version kafkajs has for
 * FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit
 * and OffsetFetch.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import findCoordinator from "kafkajs/src/protocol/requests/findCoordinator/index.js";
import joinGroup from "kafkajs/src/protocol/requests/joinGroup/index.js";
import syncGroup from "kafkajs/src/protocol/requests/syncGroup/index.js";
import heartbeat from "kafkajs/src/protocol/requests/heartbeat/index.js";
import leaveGroup from "kafkajs/src/protocol/requests/leaveGroup/index.js";
import offsetCommit from "kafkajs/src/protocol/requests/offsetCommit/index.js";
import offsetFetch from "kafkajs/src/protocol/requests/offsetFetch/index.js";
import { BROKER, call, type Harness, harness } from "./group_wire.ts";

interface KafkajsApi {
  protocol(v: { version: number }): (args: Record<string, unknown>) => {
    request: { apiKey: number; encode(): Promise<{ buffer: Buffer }> };
    response: { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<any> };
  };
}

/** Encodes with kafkajs, answers with our handler, decodes and parses with kafkajs. */
async function roundTrip(
  h: Harness,
  api: KafkajsApi,
  version: number,
  args: Record<string, unknown>,
): Promise<any> {
  const { request, response } = api.protocol({ version })(args);
  const body = new Uint8Array((await request.encode()).buffer);
  const out = await call(h, { apiKey: request.apiKey, version, write: (w) => w.raw(body) });
  return response.parse(await response.decode(Buffer.from(out.bytes)));
}

Deno.test("kafkajs codecs: FindCoordinator v0-v2 find this broker", async () => {
  const h = harness();
  try {
    for (const version of [0, 1, 2]) {
      const res = await roundTrip(h, findCoordinator, version, { groupId: "g" });
      assert.deepEqual(res.coordinator, {
        nodeId: BROKER.nodeId,
        host: BROKER.host,
        port: BROKER.port,
      });
    }
  } finally {
    await h.gc.close();
  }
});

Deno.test("kafkajs codecs: JoinGroup v0-v5, SyncGroup, Heartbeat and LeaveGroup", async () => {
  const h = harness();
  try {
    for (let version = 0; version <= 5; version++) {
      const groupId = `group-v${version}`;
      const subVersion = Math.min(version, 3);
      const join = (memberId: string) =>
        roundTrip(h, joinGroup, version, {
          groupId,
          sessionTimeout: 10_000,
          rebalanceTimeout: 10_000,
          memberId,
          protocolType: "consumer",
          groupProtocols: [{ name: "RoundRobinAssigner", metadata: Buffer.from("sub") }],
        });
      let joined;
      if (version >= 4) {
        const required = await join("").then(() => null, (e) => e);
        assert.equal(required?.type, "MEMBER_ID_REQUIRED", `JoinGroup v${version}`);
        joined = await join(required.memberId);
      } else {
        joined = await join("");
      }
      assert.equal(joined.generationId, 1);
      assert.equal(joined.groupProtocol, "RoundRobinAssigner");
      assert.equal(joined.leaderId, joined.memberId);
      assert.deepEqual(joined.members.map((m: any) => m.memberMetadata.toString()), ["sub"]);

      const synced = await roundTrip(h, syncGroup, subVersion, {
        groupId,
        generationId: 1,
        memberId: joined.memberId,
        groupAssignment: [{ memberId: joined.memberId, memberAssignment: Buffer.from("asg") }],
      });
      assert.equal(synced.memberAssignment.toString(), "asg");

      await roundTrip(h, heartbeat, subVersion, {
        groupId,
        groupGenerationId: 1,
        memberId: joined.memberId,
      });
      await roundTrip(h, leaveGroup, subVersion, { groupId, memberId: joined.memberId });
      assert.equal(h.gc.describe(groupId)?.state, "Empty", `LeaveGroup v${subVersion}`);
      const stale = roundTrip(h, heartbeat, subVersion, {
        groupId,
        groupGenerationId: 1,
        memberId: joined.memberId,
      });
      await assert.rejects(stale, (e: any) => e.type === "UNKNOWN_MEMBER_ID");
    }
  } finally {
    await h.gc.close();
  }
});

Deno.test("kafkajs codecs: OffsetCommit v0-v5 and OffsetFetch v1-v4", async () => {
  const h = harness();
  try {
    for (let version = 0; version <= 5; version++) {
      await roundTrip(h, offsetCommit, version, {
        groupId: "offsets",
        groupGenerationId: -1,
        memberId: "",
        topics: [{
          topic: "alerts",
          partitions: [{ partition: version % 4, offset: `${version}0` }],
        }],
      });
    }
    for (let version = 1; version <= 4; version++) {
      const res = await roundTrip(h, offsetFetch, version, {
        groupId: "offsets",
        topics: [{ topic: "alerts", partitions: [0, 1, 2, 3].map((partition) => ({ partition })) }],
      });
      const offsets = res.responses[0].partitions.map((p: any) => [p.partition, p.offset]);
      // Partitions 0 and 1 were committed twice (v0 then v4, v1 then v5): the last commit wins.
      assert.deepEqual(
        offsets,
        [[0, "40"], [1, "50"], [2, "20"], [3, "30"]],
        `OffsetFetch v${version}`,
      );
    }
    const unknown = roundTrip(h, offsetCommit, 5, {
      groupId: "offsets",
      groupGenerationId: -1,
      memberId: "",
      topics: [{ topic: "missing", partitions: [{ partition: 0, offset: "1" }] }],
    });
    await assert.rejects(unknown, (e: any) => e.type === "UNKNOWN_TOPIC_OR_PARTITION");
  } finally {
    await h.gc.close();
  }
});
