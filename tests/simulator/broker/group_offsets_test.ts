/**
 * OffsetCommit and OffsetFetch through the coordinator's handlers: simple
 * commits, member commits checked against the generation, per-partition
 * errors, every version's wire format, and persistence across restarts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createGroupCoordinator } from "../../../simulator/broker/group/mod.ts";
import {
  BROKER,
  harness,
  joinGroup,
  joinNew,
  offsetCommit,
  offsetFetch,
  stableGroup,
  syncGroup,
} from "./group_wire.ts";

const E = {
  NONE: 0,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  OFFSET_METADATA_TOO_LARGE: 12,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
};

Deno.test("simple commits (generation -1) are stored and fetched at every version; -1 where nothing was committed", async () => {
  for (let commitVersion = 0; commitVersion <= 7; commitVersion++) {
    const h = harness();
    try {
      const codes = await offsetCommit(h, commitVersion, {
        groupId: "simple",
        offsets: [
          { topic: "alerts", partition: 0, offset: 42n, metadata: "m0" },
          { topic: "alerts", partition: 3, offset: 7n, metadata: null },
        ],
      });
      assert.deepEqual([...codes.values()], [E.NONE, E.NONE], `OffsetCommit v${commitVersion}`);
      for (let fetchVersion = 0; fetchVersion <= 5; fetchVersion++) {
        const { errorCode, offsets } = await offsetFetch(h, fetchVersion, {
          groupId: "simple",
          topics: [
            { topic: "alerts", partitions: [0, 1, 3] },
          ],
        });
        const where = `OffsetCommit v${commitVersion}, OffsetFetch v${fetchVersion}`;
        assert.equal(errorCode, E.NONE, where);
        assert.deepEqual(offsets.get("alerts/0"), { offset: 42n, metadata: "m0", errorCode: 0 });
        assert.deepEqual(offsets.get("alerts/1"), { offset: -1n, metadata: "", errorCode: 0 });
        assert.deepEqual(offsets.get("alerts/3"), { offset: 7n, metadata: "", errorCode: 0 });
      }
    } finally {
      await h.gc.close();
    }
  }
});

Deno.test("OffsetFetch v2+ with null topics returns every committed partition of the group", async () => {
  const h = harness();
  try {
    await offsetCommit(h, 2, {
      groupId: "all",
      offsets: [
        { topic: "alerts", partition: 2, offset: 5n },
        { topic: "other", partition: 1, offset: 9n },
      ],
    });
    await offsetCommit(h, 2, {
      groupId: "else",
      offsets: [{ topic: "alerts", partition: 0, offset: 1n }],
    });
    const { offsets } = await offsetFetch(h, 4, { groupId: "all", topics: null });
    assert.deepEqual(
      [...offsets].map(([k, v]) => [k, v.offset]).sort(),
      [["alerts/2", 5n], ["other/1", 9n]],
    );
    assert.equal((await offsetFetch(h, 2, { groupId: "nobody", topics: null })).offsets.size, 0);
  } finally {
    await h.gc.close();
  }
});

Deno.test("OffsetCommit answers unknown topics, partitions and oversized metadata per partition", async () => {
  const h = harness({ maxMetadataBytes: 8 });
  try {
    const codes = await offsetCommit(h, 5, {
      offsets: [
        { topic: "alerts", partition: 1, offset: 3n, metadata: "12345678" },
        { topic: "alerts", partition: 4, offset: 3n },
        { topic: "missing", partition: 0, offset: 3n },
        { topic: "other", partition: 0, offset: 3n, metadata: "123456789" },
      ],
    });
    assert.deepEqual(Object.fromEntries(codes), {
      "alerts/1": E.NONE,
      "alerts/4": E.UNKNOWN_TOPIC_OR_PARTITION,
      "missing/0": E.UNKNOWN_TOPIC_OR_PARTITION,
      "other/0": E.OFFSET_METADATA_TOO_LARGE,
    });
    const { offsets } = await offsetFetch(h, 3, { groupId: "g", topics: null });
    assert.deepEqual([...offsets.keys()], ["alerts/1"]);
  } finally {
    await h.gc.close();
  }
});

Deno.test("member commits are checked against the member id and generation", async () => {
  const h = harness();
  try {
    const { generationId, leaderId, memberIds } = await stableGroup(h, { groupId: "g", count: 2 });
    const offsets = [{ topic: "alerts", partition: 0, offset: 10n }];
    const commit = (generation: number, memberId: string) =>
      offsetCommit(h, 7, { generationId: generation, memberId, offsets })
        .then((c) => c.get("alerts/0"));
    assert.equal(await commit(generationId, leaderId), E.NONE);
    assert.equal(await commit(generationId - 1, leaderId), E.ILLEGAL_GENERATION);
    assert.equal(await commit(generationId, "stranger"), E.UNKNOWN_MEMBER_ID);
    // A simple commit into a group with members is refused, as Kafka does.
    assert.equal(await commit(-1, ""), E.UNKNOWN_MEMBER_ID);
    assert.equal(
      (await offsetCommit(h, 1, { groupId: "gone", generationId: 3, memberId: "m", offsets }))
        .get("alerts/0"),
      E.ILLEGAL_GENERATION,
    );

    // A rebalance starts: commits with the old generation are still accepted before rejoining...
    const newcomer = await joinGroup(h, 5, {});
    const newJoin = joinGroup(h, 5, { memberId: newcomer.memberId });
    assert.equal(await commit(generationId, memberIds[1]), E.NONE);
    // ...but not between JoinGroup and SyncGroup.
    const rejoined = await Promise.all([
      newJoin,
      ...memberIds.map((memberId) => joinGroup(h, 5, { memberId })),
    ]);
    assert.equal(h.gc.describe("g")?.state, "CompletingRebalance");
    assert.equal(await commit(generationId + 1, leaderId), E.REBALANCE_IN_PROGRESS);
    await Promise.all(
      rejoined.map((r) =>
        syncGroup(h, 3, { generationId: r.generationId, memberId: r.memberId, assignments: [] })
      ),
    );
    assert.equal(await commit(generationId + 1, newcomer.memberId), E.NONE);
  } finally {
    await h.gc.close();
  }
});

Deno.test("committed offsets survive a restart on the same data folder, for any group id", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "group_offsets_" });
  try {
    const odd = ["../escape", "a/b\\c", ".", "x".repeat(300), "ünïcødé 🚀", "plain"];
    let h = harness({ dataDir });
    const member = await joinNew(h, { groupId: "members" });
    await syncGroup(h, 3, { groupId: "members", generationId: 1, memberId: member.memberId });
    for (const [i, groupId] of odd.entries()) {
      await offsetCommit(h, 2, {
        groupId,
        offsets: [{
          topic: "alerts",
          partition: i % 4,
          offset: BigInt(1000 + i),
          metadata: groupId,
        }],
      });
    }
    await offsetCommit(h, 5, {
      groupId: "members",
      generationId: 1,
      memberId: member.memberId,
      offsets: [{ topic: "other", partition: 1, offset: 2n ** 40n }],
    });
    await h.gc.close();

    const files = [...Deno.readDirSync(join(dataDir, "__consumer_offsets"))].map((e) => e.name);
    assert.equal(files.length, odd.length + 1);
    assert.ok(files.every((f) => f.endsWith(".json") && !f.includes("/")), files.join(", "));
    // A write interrupted by a crash leaves a temporary file, which the next start removes.
    const stray = join(dataDir, "__consumer_offsets", "plain.json.tmp");
    await Deno.writeTextFile(stray, '{"version":1,');

    h = harness({ dataDir });
    try {
      for (const [i, groupId] of odd.entries()) {
        const { offsets } = await offsetFetch(h, 3, { groupId, topics: null });
        assert.deepEqual([...offsets], [[`alerts/${i % 4}`, {
          offset: BigInt(1000 + i),
          metadata: groupId,
          errorCode: 0,
        }]]);
      }
      const { offsets } = await offsetFetch(h, 1, {
        groupId: "members",
        topics: [{ topic: "other", partitions: [1] }],
      });
      assert.equal(offsets.get("other/1")?.offset, 2n ** 40n);
      await assert.rejects(() => Deno.stat(stray), Deno.errors.NotFound);
      // The group's membership is not persisted: the old member must rejoin.
      assert.equal(h.gc.describe("members"), undefined);
    } finally {
      await h.gc.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("concurrent commits to one group are all durable when acknowledged", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "group_offsets_" });
  try {
    const h = harness({ dataDir });
    await Promise.all(Array.from({ length: 40 }, (_, i) =>
      offsetCommit(h, 2, {
        groupId: "busy",
        offsets: [{ topic: "alerts", partition: i % 4, offset: BigInt(i) }],
      })));
    const text = await Deno.readTextFile(join(dataDir, "__consumer_offsets", "busy.json"));
    const saved = JSON.parse(text).offsets.map((o: { partition: number; offset: string }) => [
      o.partition,
      o.offset,
    ]);
    assert.deepEqual(saved.sort(), [[0, "36"], [1, "37"], [2, "38"], [3, "39"]]);
    await h.gc.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a corrupt offsets file stops the coordinator with an error naming the file", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "group_offsets_" });
  try {
    await Deno.mkdir(join(dataDir, "__consumer_offsets"));
    const file = join(dataDir, "__consumer_offsets", "broken.json");
    await Deno.writeTextFile(file, "{not json");
    assert.throws(
      () => createGroupCoordinator({ dataDir, broker: BROKER }),
      (e: Error) => e.message.includes(file) && e.message.includes("delete it"),
    );
    await Deno.writeTextFile(file, JSON.stringify({ version: 1, group: "g", offsets: [{}] }));
    assert.throws(
      () => createGroupCoordinator({ dataDir, broker: BROKER }),
      (e: Error) => e.message.includes(file) && e.message.includes("{topic, partition, offset"),
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
