import assert from "node:assert/strict";
import {
  formatTopicPartition,
  parseTopicPartition,
  TopicPartitionMap,
} from "../../../core/source/topic_partition.ts";

Deno.test("a topic-partition's text form is parsed back", () => {
  assert.equal(formatTopicPartition({ topic: "ztf_20200101", partition: 3 }), "ztf_20200101+3");
  assert.deepEqual(parseTopicPartition("ztf_20200101+3"), { topic: "ztf_20200101", partition: 3 });
  assert.deepEqual(parseTopicPartition("a.b-c+12"), { topic: "a.b-c", partition: 12 });
  assert.equal(parseTopicPartition("ztf_20200101"), null);
  assert.equal(parseTopicPartition("ztf+x"), null);
});

Deno.test("pairs with the same topic and partition are one key, whatever objects they are", () => {
  const map = new TopicPartitionMap<number>();
  const message = { topic: "ztf", partition: 1, offset: 5n, value: new Uint8Array(8) };
  map.set(message, 1);
  map.set({ topic: "ztf", partition: 1 }, 2);
  map.set({ topic: "ztf", partition: 10 }, 3);
  map.set({ topic: "ztf1", partition: 0 }, 4);
  assert.equal(map.size, 3);
  assert.equal(map.get({ topic: "ztf", partition: 1 }), 2);
  assert.equal(map.has({ topic: "ztf1", partition: 0 }), true);
  assert.equal(map.has({ topic: "ztf", partition: 0 }), false);
  assert.deepEqual([...map.keys()], [
    { topic: "ztf", partition: 1 },
    { topic: "ztf", partition: 10 },
    { topic: "ztf1", partition: 0 },
  ], "insertion order, each key a pair of its own (not the message)");
  assert.equal(map.delete({ topic: "ztf", partition: 10 }), true);
  assert.equal(map.delete({ topic: "ztf", partition: 10 }), false);
  assert.deepEqual([...map.values()], [2, 4]);
  assert.equal(JSON.stringify(map), '{"ztf+1":2,"ztf1+0":4}');
});

Deno.test("getOrCreate makes a value once, from a pair of its own", () => {
  const map = new TopicPartitionMap<{ tp: { topic: string; partition: number }; n: number }>();
  const message = { topic: "ztf", partition: 0, value: new Uint8Array(1) };
  const made = map.getOrCreate(message, (tp) => ({ tp, n: 0 }));
  made.n++;
  assert.equal(map.getOrCreate({ topic: "ztf", partition: 0 }, () => ({ tp: message, n: 9 })).n, 1);
  assert.deepEqual(made.tp, { topic: "ztf", partition: 0 });
  assert.equal("value" in made.tp, false, "the message's bytes are not kept");
});
