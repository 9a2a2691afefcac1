/**
 * The group coordinator's membership protocol, driven through its handlers
 * with wire-encoded requests: handshake, generations, leader election,
 * protocol selection, SyncGroup, Heartbeat, LeaveGroup, rebalance and
 * session timeouts, and close().
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../../../simulator/broker/protocol/reader.ts";
import {
  BROKER,
  call,
  harness,
  heartbeat,
  joinGroup,
  joinNew,
  leaveGroup,
  protocols,
  stableGroup,
  syncGroup,
} from "./group_wire.ts";
import { waitFor } from "../../support/wait.ts";

const E = {
  NONE: 0,
  COORDINATOR_NOT_AVAILABLE: 15,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  MEMBER_ID_REQUIRED: 79,
  INVALID_REQUEST: 42,
};

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("FindCoordinator answers this broker for groups and transactional ids at v0-v2", async () => {
  const h = harness();
  try {
    for (const version of [0, 1, 2]) {
      const r = await call(h, {
        apiKey: 10,
        version,
        write: (w) => {
          w.string("my-group");
          if (version >= 1) w.int8(0);
        },
      });
      if (version >= 1) assert.deepEqual(r.int32(), 0);
      assert.deepEqual(r.int16(), E.NONE);
      if (version >= 1) assert.deepEqual(r.nullableString(), null);
      assert.deepEqual([r.int32(), r.string(), r.int32()], [
        BROKER.nodeId,
        BROKER.host,
        BROKER.port,
      ]);
      assert.deepEqual(r.remaining, 0);
    }
    // Transactional ids (key type 1) are coordinated here too; other key types are refused.
    const txn = await call(h, { apiKey: 10, version: 2, write: (w) => w.string("txn").int8(1) });
    txn.int32();
    assert.deepEqual(txn.int16(), E.NONE);
    txn.nullableString();
    assert.deepEqual(txn.int32(), BROKER.nodeId);
    const bad = await call(h, { apiKey: 10, version: 2, write: (w) => w.string("x").int8(7) });
    bad.int32();
    assert.deepEqual(bad.int16(), E.INVALID_REQUEST);
    assert.match(bad.nullableString() ?? "", /key type 0 \(group\) or 1 \(transaction\), found 7/);
  } finally {
    await h.gc.close();
  }
});

Deno.test("JoinGroup v4+ hands out a member id first, then forms generation 1 with the member as leader", async () => {
  const h = harness();
  try {
    const first = await joinGroup(h, 5, { clientId: "consumer-a" });
    assert.deepEqual(first.errorCode, E.MEMBER_ID_REQUIRED);
    assert.ok(first.memberId.startsWith("consumer-a-"), first.memberId);
    assert.deepEqual(h.gc.describe("g")?.members.length, 0);

    const joined = await joinGroup(h, 5, {
      memberId: first.memberId,
      protocols: protocols("a", "range", "roundrobin"),
    });
    assert.deepEqual(joined.errorCode, E.NONE);
    assert.deepEqual(joined.generationId, 1);
    assert.deepEqual(joined.leaderId, first.memberId);
    assert.deepEqual(joined.memberId, first.memberId);
    assert.deepEqual(joined.protocolName, "range");
    assert.deepEqual(joined.members.map((m) => [m.memberId, text(m.metadata)]), [
      [first.memberId, "a:range"],
    ]);
    assert.deepEqual(h.gc.describe("g")?.state, "CompletingRebalance");

    const assignment = bytes("partitions 0-3");
    const synced = await syncGroup(h, 3, {
      generationId: 1,
      memberId: first.memberId,
      assignments: [[first.memberId, assignment]],
    });
    assert.deepEqual(synced.errorCode, E.NONE);
    assert.deepEqual(text(synced.assignment), "partitions 0-3");
    assert.deepEqual(h.gc.describe("g")?.state, "Stable");
    assert.deepEqual(await heartbeat(h, 3, { generationId: 1, memberId: first.memberId }), E.NONE);
  } finally {
    await h.gc.close();
  }
});

Deno.test("JoinGroup below v4 admits a new member at once, at every version", async () => {
  for (const version of [0, 1, 2, 3]) {
    const h = harness();
    try {
      const joined = await joinGroup(h, version, { groupId: `g${version}` });
      assert.deepEqual(joined.errorCode, E.NONE);
      assert.deepEqual(joined.generationId, 1);
      assert.deepEqual(joined.leaderId, joined.memberId);
      const synced = await syncGroup(h, Math.min(version, 3), {
        groupId: `g${version}`,
        generationId: 1,
        memberId: joined.memberId,
        assignments: [[joined.memberId, bytes("all")]],
      });
      assert.deepEqual([synced.errorCode, text(synced.assignment)], [E.NONE, "all"]);
      const hb = await heartbeat(h, Math.min(version, 3), {
        groupId: `g${version}`,
        generationId: 1,
        memberId: joined.memberId,
      });
      assert.deepEqual(hb, E.NONE);
    } finally {
      await h.gc.close();
    }
  }
});

Deno.test("a second member triggers a rebalance: heartbeat says rejoin, the leader's protocol order wins, followers wait for the leader's assignment", async () => {
  const h = harness();
  try {
    const a = await joinNew(h, { protocols: protocols("a", "range", "roundrobin") });
    await syncGroup(h, 3, { generationId: 1, memberId: a.memberId, assignments: [] });

    const bHandshake = await joinGroup(h, 5, { protocols: protocols("b", "roundrobin", "range") });
    const bJoin = joinGroup(h, 5, {
      memberId: bHandshake.memberId,
      protocols: protocols("b", "roundrobin", "range"),
    });
    assert.deepEqual(h.gc.describe("g")?.state, "PreparingRebalance");
    assert.deepEqual(
      await heartbeat(h, 3, { generationId: 1, memberId: a.memberId }),
      E.REBALANCE_IN_PROGRESS,
    );
    const [aJoined, bJoined] = await Promise.all([
      joinGroup(h, 5, { memberId: a.memberId, protocols: protocols("a", "range", "roundrobin") }),
      bJoin,
    ]);
    assert.deepEqual([aJoined.generationId, bJoined.generationId], [2, 2]);
    assert.deepEqual([aJoined.leaderId, bJoined.leaderId], [a.memberId, a.memberId]);
    assert.deepEqual([aJoined.protocolName, bJoined.protocolName], ["range", "range"]);
    assert.deepEqual(
      aJoined.members.map((m) => text(m.metadata)).sort(),
      ["a:range", "b:range"],
    );
    assert.deepEqual(bJoined.members, []);

    let followerDone = false;
    const follower = syncGroup(h, 3, { generationId: 2, memberId: bJoined.memberId })
      .finally(() => followerDone = true);
    await Promise.resolve();
    assert.ok(!followerDone, "the follower must wait for the leader's SyncGroup");
    const leader = await syncGroup(h, 3, {
      generationId: 2,
      memberId: a.memberId,
      assignments: [[a.memberId, bytes("p0,p1")], [bJoined.memberId, bytes("p2,p3")]],
    });
    assert.deepEqual(text(leader.assignment), "p0,p1");
    assert.deepEqual(text((await follower).assignment), "p2,p3");
    assert.deepEqual(
      await heartbeat(h, 3, { generationId: 2, memberId: bJoined.memberId }),
      E.NONE,
    );
    assert.deepEqual(
      await heartbeat(h, 3, { generationId: 1, memberId: a.memberId }),
      E.ILLEGAL_GENERATION,
    );
    assert.deepEqual(
      (await syncGroup(h, 3, { generationId: 1, memberId: a.memberId })).errorCode,
      E.ILLEGAL_GENERATION,
    );
  } finally {
    await h.gc.close();
  }
});

Deno.test("a follower rejoining a Stable group with unchanged protocols gets the current generation without a rebalance", async () => {
  const h = harness();
  try {
    const { generationId, leaderId, memberIds } = await stableGroup(h, { groupId: "g", count: 2 });
    const follower = memberIds.find((id) => id !== leaderId)!;
    const again = await joinGroup(h, 5, { memberId: follower });
    assert.deepEqual([again.errorCode, again.generationId, again.leaderId], [
      E.NONE,
      generationId,
      leaderId,
    ]);
    assert.deepEqual(h.gc.describe("g")?.state, "Stable");
  } finally {
    await h.gc.close();
  }
});

Deno.test("JoinGroup refuses bad requests with Kafka's error codes", async () => {
  const h = harness({ minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 60_000 });
  try {
    const a = await joinNew(h, { protocols: protocols("a", "range") });
    await syncGroup(h, 3, { generationId: 1, memberId: a.memberId });
    const cases: [string, Parameters<typeof joinGroup>[2], number][] = [
      [
        "no common protocol",
        { protocols: protocols("c", "sticky") },
        E.INCONSISTENT_GROUP_PROTOCOL,
      ],
      ["other protocol type", { protocolType: "connect" }, E.INCONSISTENT_GROUP_PROTOCOL],
      ["no protocols", { groupId: "fresh", protocols: [] }, E.INCONSISTENT_GROUP_PROTOCOL],
      ["session too short", { sessionTimeoutMs: 999 }, E.INVALID_SESSION_TIMEOUT],
      ["session too long", { sessionTimeoutMs: 60_001 }, E.INVALID_SESSION_TIMEOUT],
      ["empty group id", { groupId: "" }, E.INVALID_GROUP_ID],
      ["unknown member", { memberId: "nobody" }, E.UNKNOWN_MEMBER_ID],
      ["unknown member, unknown group", { groupId: "other", memberId: "x" }, E.UNKNOWN_MEMBER_ID],
    ];
    for (const [name, args, expected] of cases) {
      const res = await joinGroup(h, 5, args);
      assert.deepEqual(res.errorCode, expected, name);
    }
    assert.deepEqual(
      await heartbeat(h, 3, { generationId: 1, memberId: "nobody" }),
      E.UNKNOWN_MEMBER_ID,
    );
    assert.deepEqual(
      await heartbeat(h, 3, { groupId: "none", generationId: 1, memberId: "x" }),
      E.UNKNOWN_MEMBER_ID,
    );
    assert.deepEqual(h.gc.describe("g")?.state, "Stable");
  } finally {
    await h.gc.close();
  }
});

Deno.test("a member that does not rejoin within the rebalance timeout is dropped from the next generation", async () => {
  const h = harness();
  try {
    const { memberIds, leaderId } = await stableGroup(h, {
      groupId: "g",
      count: 2,
      join: { rebalanceTimeoutMs: 300 },
    });
    const follower = memberIds.find((id) => id !== leaderId)!;
    // The leader rejoins; the follower never does, so only the timeout can end the join phase.
    const rejoined = await joinGroup(h, 5, { memberId: leaderId, rebalanceTimeoutMs: 300 });
    assert.deepEqual(rejoined.errorCode, E.NONE);
    assert.deepEqual(rejoined.generationId, 3);
    assert.deepEqual(rejoined.members.map((m) => m.memberId), [leaderId]);
    assert.deepEqual(
      await heartbeat(h, 3, { generationId: 3, memberId: follower }),
      E.UNKNOWN_MEMBER_ID,
    );
  } finally {
    await h.gc.close();
  }
});

Deno.test("a member whose session expires is removed and the others are asked to rejoin", async () => {
  const h = harness();
  try {
    // Only the follower has a short session, so only its expiry can end the generation.
    const first = await joinNew(h, { groupId: "g", sessionTimeoutMs: 10_000 });
    const leaderId = first.memberId;
    await syncGroup(h, 3, {
      groupId: "g",
      generationId: first.generationId,
      memberId: leaderId,
      assignments: [],
    });
    const handshake = await joinGroup(h, 5, { groupId: "g", memberId: "", sessionTimeoutMs: 300 });
    const follower = handshake.memberId;
    const [followerJoin, leaderJoin] = await Promise.all([
      joinGroup(h, 5, { groupId: "g", memberId: follower, sessionTimeoutMs: 300 }),
      joinGroup(h, 5, { groupId: "g", memberId: leaderId, sessionTimeoutMs: 10_000 }),
    ]);
    assert.deepEqual([followerJoin.leaderId, leaderJoin.leaderId], [leaderId, leaderId]);
    const generationId = leaderJoin.generationId;
    const synced = await Promise.all([
      syncGroup(h, 3, { groupId: "g", generationId, memberId: leaderId, assignments: [] }),
      syncGroup(h, 3, { groupId: "g", generationId, memberId: follower }),
    ]);
    assert.deepEqual(synced.map((r) => r.errorCode), [E.NONE, E.NONE]);
    // Only the leader heartbeats; poll its heartbeat until the coordinator reports the rebalance.
    const code = await waitFor("the coordinator to report the rebalance", async () => {
      const answer = await heartbeat(h, 3, { generationId, memberId: leaderId });
      return answer === E.NONE ? undefined : answer;
    });
    assert.deepEqual(code, E.REBALANCE_IN_PROGRESS);
    assert.deepEqual(h.gc.describe("g")?.members.map((m) => m.memberId), [leaderId]);
    const rejoined = await joinGroup(h, 5, { memberId: leaderId, sessionTimeoutMs: 10_000 });
    assert.deepEqual([rejoined.errorCode, rejoined.generationId], [E.NONE, generationId + 1]);
    assert.deepEqual(
      await heartbeat(h, 3, { generationId, memberId: follower }),
      E.UNKNOWN_MEMBER_ID,
    );
  } finally {
    await h.gc.close();
  }
});

Deno.test("LeaveGroup v3 removes a batch of members with a code each; v0 leaves one; the leader role moves on", async () => {
  const h = harness();
  try {
    const { memberIds, leaderId, generationId } = await stableGroup(h, { groupId: "g", count: 3 });
    const [x, y] = memberIds.filter((id) => id !== leaderId);
    const res = await leaveGroup(h, 3, { groupId: "g", memberIds: [x, "ghost"] });
    assert.deepEqual(res.errorCode, E.NONE);
    assert.deepEqual(res.members, [
      { memberId: x, errorCode: E.NONE },
      { memberId: "ghost", errorCode: E.UNKNOWN_MEMBER_ID },
    ]);
    assert.deepEqual(
      await heartbeat(h, 3, { generationId, memberId: y }),
      E.REBALANCE_IN_PROGRESS,
    );
    // The leader leaves during the rebalance: the remaining member becomes leader once it rejoins.
    assert.deepEqual(
      (await leaveGroup(h, 0, { groupId: "g", memberIds: [leaderId] })).errorCode,
      E.NONE,
    );
    const rejoined = await joinGroup(h, 5, { memberId: y });
    assert.deepEqual([rejoined.generationId, rejoined.leaderId], [generationId + 1, y]);
    assert.deepEqual(rejoined.members.map((m) => m.memberId), [y]);
    assert.deepEqual(
      (await leaveGroup(h, 1, { groupId: "g", memberIds: [leaderId] })).errorCode,
      E.UNKNOWN_MEMBER_ID,
    );
    assert.deepEqual(
      (await leaveGroup(h, 3, { groupId: "", memberIds: [y] })).errorCode,
      E.INVALID_GROUP_ID,
    );
  } finally {
    await h.gc.close();
  }
});

Deno.test("a member leaving while others wait in SyncGroup sends them back to JoinGroup", async () => {
  const h = harness();
  try {
    const a = await joinNew(h, {});
    await syncGroup(h, 3, { generationId: 1, memberId: a.memberId });
    const b = await joinGroup(h, 5, {});
    const [aj, bj] = await Promise.all([
      joinGroup(h, 5, { memberId: a.memberId }),
      joinGroup(h, 5, { memberId: b.memberId }),
    ]);
    const follower = aj.leaderId === aj.memberId ? bj : aj;
    const leader = aj.leaderId === aj.memberId ? aj : bj;
    const waiting = syncGroup(h, 3, { generationId: 2, memberId: follower.memberId });
    await leaveGroup(h, 3, { groupId: "g", memberIds: [leader.memberId] });
    assert.deepEqual((await waiting).errorCode, E.REBALANCE_IN_PROGRESS);
    assert.deepEqual(h.gc.describe("g")?.state, "PreparingRebalance");
  } finally {
    await h.gc.close();
  }
});

Deno.test("the group becomes Empty when its last member leaves, and a new member starts the next generation", async () => {
  const h = harness();
  try {
    const { memberIds, generationId } = await stableGroup(h, { groupId: "g", count: 1 });
    await leaveGroup(h, 3, { groupId: "g", memberIds });
    const d = h.gc.describe("g");
    assert.deepEqual([d?.state, d?.generationId, d?.members.length], [
      "Empty",
      generationId + 1,
      0,
    ]);
    const again = await joinNew(h, { protocolType: "connect" });
    assert.deepEqual([again.errorCode, again.generationId], [E.NONE, generationId + 2]);
  } finally {
    await h.gc.close();
  }
});

Deno.test("close() answers a waiting JoinGroup and clears every timer", async () => {
  const h = harness();
  const { leaderId } = await stableGroup(h, {
    groupId: "g",
    count: 2,
    join: { sessionTimeoutMs: 60_000 },
  });
  await joinGroup(h, 5, { groupId: "pending" });
  const waiting = joinGroup(h, 5, { memberId: leaderId });
  await h.gc.close();
  assert.deepEqual((await waiting).errorCode, E.COORDINATOR_NOT_AVAILABLE);
  assert.deepEqual(
    await heartbeat(h, 3, { generationId: 1, memberId: leaderId }),
    E.COORDINATOR_NOT_AVAILABLE,
  );
});

Deno.test("a truncated request is a ProtocolError, not a crash", async () => {
  const h = harness();
  try {
    await assert.rejects(
      () => call(h, { apiKey: 11, version: 5, write: (w) => w.string("g").int32(10_000) }),
      ProtocolError,
    );
    await assert.rejects(
      () =>
        call(h, {
          apiKey: 14,
          version: 3,
          write: (w) => w.string("g").int32(1).string("m").nullableString(null).int32(5),
        }),
      ProtocolError,
    );
  } finally {
    await h.gc.close();
  }
});
