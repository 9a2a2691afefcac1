import assert from "node:assert/strict";
import { ArchiveStats } from "../../../core/archive/stats.ts";

Deno.test("figures total the partitions, add what the caller buffers and keep hours and rates", () => {
  const stats = new ArchiveStats();
  const p0 = stats.partition({ topic: "ztf", partition: 0 });
  const p1 = stats.partition({ topic: "ztf", partition: 1 });
  stats.tick(0);
  Object.assign(p0, {
    received: 8,
    decoded: 6,
    archived: 5,
    quarantined: 1,
    inFlight: 2,
    bytesIn: 7e6,
  });
  Object.assign(p1, { received: 3, decoded: 3, archived: 3, quarantined: 0, bytesIn: 3e6 });
  stats.addFile("ztf", "2020/01/01/13", 8, 4000);
  stats.addFile("ztf", "2020/01/01/13", 1, 500);
  stats.tick(2000);

  const figures = stats.figures(1);
  assert.deepEqual(figures.totals, {
    received: 11,
    decoded: 9,
    archived: 8,
    quarantined: 1,
    inFlight: 2,
    buffered: 1,
    files: 2,
    bytes: 4500,
  });
  assert.deepEqual(figures.rates, { inPerSecond: 5.5, outPerSecond: 4.5, mbInPerSecond: 5 });
  assert.deepEqual(figures.hours, [
    { topic: "ztf", hour: "2020/01/01/13", files: 2, alerts: 9, bytes: 4500 },
  ]);
  assert.equal((figures.partitions as unknown[]).length, 2);
});

Deno.test("latency is kept per topic as well: tonight's stream apart from a backlog", () => {
  const stats = new ArchiveStats();
  const t = 1_000_000_000;
  stats.recordLatencies(
    "ztf_20200101",
    t,
    Array.from({ length: 100 }, (_, i) => t - 3_600_001 - i),
  );
  stats.recordLatencies("ztf_live", t, Array.from({ length: 100 }, (_, i) => t - (i + 1) * 10));
  assert.deepEqual(stats.latencyByTopic(), [
    { topic: "ztf_20200101", p50: 3_600_051, p99: 3_600_100 },
    { topic: "ztf_live", p50: 510, p99: 1000 },
  ]);
  assert.deepEqual(stats.latency(), { p50: 3_600_001, p99: 3_600_099 });
  assert.deepEqual(stats.figures(0).topicLatencyMs, stats.latencyByTopic());
});

Deno.test("latency per topic keeps the 32 topics archived most recently", () => {
  const stats = new ArchiveStats();
  for (let n = 0; n < 32; n++) stats.recordLatencies(`night${n}`, 100, [100 - n]);
  stats.recordLatencies("night0", 100, [99]);
  stats.recordLatencies("live", 100, [95]);
  const topics = stats.latencyByTopic().map((t) => t.topic);
  assert.equal(topics.length, 32);
  assert.ok(!topics.includes("night1"), "the idlest topic goes first");
  assert.deepEqual(topics.slice(-2), ["night0", "live"]);
});
