/**
 * Fencing at work: of two nodes sharing one archive, one is paused (SIGSTOP)
 * while it holds alerts it has not archived yet; its session expires, the
 * other node takes its partitions over and archives past them; resumed
 * (SIGCONT), the paused node tries to commit what it held, cannot, and says
 * so in its log. Every alert is archived exactly once.
 */
import assert from "node:assert/strict";
import { readCommittedOffsets } from "../../core/archive/reader.ts";
import { Cluster } from "../support/cluster.ts";
import { getJson } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const PARTITIONS = 4;

Deno.test({
  name: "a node paused past a rebalance cannot commit when it resumes, and says so",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await Cluster.start({
      backend: "local",
      partitions: PARTITIONS,
      // No distribution, no plugin: the archive alone.
      config: "[distribution]\ndefault_filters = false\n",
      // Batches fill for seconds, so the paused node certainly holds one.
      settings: { "batch.max_alerts": 500, "batch.max_ms": 3000 },
    });
    try {
      const paused = cluster.spawn();
      const other = cluster.spawn();
      const [pausedUrl, otherUrl] = await Promise.all([cluster.api(paused), cluster.api(other)]);
      const status = (url: string | null) => getJson(`${url}/api/status`);
      await waitFor("the two nodes to share the partitions", async () => {
        const [a, b] = await Promise.all([status(pausedUrl), status(otherUrl)]);
        const owned = (a.group?.assigned.length ?? 0) + (b.group?.assigned.length ?? 0);
        return owned === PARTITIONS && a.group.assigned.length > 0 ? true : undefined;
      });
      const streaming = cluster.stream(2, 25);
      // Paused while it holds alerts of its partitions that it has not archived yet.
      const held = await waitFor("the node to hold alerts not archived yet", async () => {
        const s = await status(pausedUrl);
        const holding = s.partitions.filter((p: any) => p.inFlight > 0);
        return holding.length > 0 ? s.group.assigned : undefined;
      });
      cluster.signal(paused, "SIGSTOP");
      const before = await readCommittedOffsets(cluster.archive());
      await waitFor("the other node to archive the paused node's partitions", async () => {
        const s = await status(otherUrl);
        if (s.group?.assigned.length !== PARTITIONS) return undefined;
        const now = await readCommittedOffsets(cluster.archive());
        const moved = held.every((tp: { partition: number }) => {
          const was = before.find((c) => c.partition === tp.partition)?.offset ?? -1n;
          const is = now.find((c) => c.partition === tp.partition)?.offset ?? -1n;
          return is > was;
        });
        return moved ? true : undefined;
      });
      cluster.signal(paused, "SIGCONT");
      const line = await waitFor("the resumed node to say it was fenced", () => {
        const found = paused.log().split("\n").find((l) => l.includes("fenced: cannot commit"));
        return Promise.resolve(found);
      });
      assert.match(line, /the partition was taken over by another process/);
      assert.match(line, new RegExp(`by=node-2-`), "it names the member that took it over");
      const sent = await streaming;
      await cluster.archived(sent);
      await cluster.stopAll();
      await cluster.archivedOnce(sent);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${cluster.logs()}`, { cause: error });
    } finally {
      await cluster.close();
    }
  },
});
