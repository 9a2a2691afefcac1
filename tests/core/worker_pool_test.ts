import assert from "node:assert/strict";
import { type WorkerJob, WorkerPool } from "../../core/worker_pool.ts";

interface Reply {
  id: number;
  doubled: number;
}

/** A Worker that doubles numbers and dies on 13. */
const WORKER = `
self.onmessage = (event) => {
  const { id, n } = event.data;
  if (n === 13) throw new Error("unlucky");
  self.postMessage({ id, doubled: n * 2 });
};
`;

async function workerUrl(): Promise<{ url: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "fink_worker_pool_" });
  const path = `${dir}/double.js`;
  await Deno.writeTextFile(path, WORKER);
  return { url: new URL(`file://${path}`).href, dir };
}

type Outcome = { doubled: number } | { crashed: string } | "cancelled";

function job(n: number): { job: WorkerJob<Reply>; done: Promise<Outcome> } {
  let end!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((resolve) => end = resolve);
  return {
    done,
    job: {
      send: (worker, id) => worker.postMessage({ id, n }),
      settle: (reply) => end({ doubled: reply.doubled }),
      crashed: (reason) => end({ crashed: reason }),
      cancelled: () => end("cancelled"),
    },
  };
}

Deno.test("a worker pool answers each job with its own reply, in any number of workers", async () => {
  const { url, dir } = await workerUrl();
  let dequeued = 0;
  const pool = new WorkerPool<Reply>(url, { workers: 2, onDequeue: () => dequeued++ });
  try {
    const jobs = Array.from({ length: 12 }, (_, n) => job(n));
    for (const j of jobs) pool.submit(j.job);
    assert.equal(pool.queued, 10, "two jobs run, the others wait");
    const outcomes = await Promise.all(jobs.map((j) => j.done));
    assert.deepEqual(outcomes, jobs.map((_, n) => ({ doubled: n * 2 })));
    assert.equal(dequeued, 12);
  } finally {
    pool.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a worker that dies fails its job only and is replaced; terminate cancels the rest", async () => {
  const { url, dir } = await workerUrl();
  const crashes: string[] = [];
  const pool = new WorkerPool<Reply>(url, { workers: 1, onCrash: (r) => crashes.push(r) });
  try {
    const bad = job(13);
    const good = job(4);
    pool.submit(bad.job);
    pool.submit(good.job);
    const crashed = await bad.done;
    assert.ok(typeof crashed === "object" && "crashed" in crashed, JSON.stringify(crashed));
    assert.match(crashed.crashed, /unlucky/);
    assert.deepEqual(await good.done, { doubled: 8 }, "the replacement runs the next job");
    assert.equal(crashes.length, 1);

    const blocked = [job(1), job(2)];
    for (const j of blocked) pool.submit(j.job);
    pool.terminate();
    assert.deepEqual(await Promise.all(blocked.map((j) => j.done)), ["cancelled", "cancelled"]);
    const late = job(3);
    pool.submit(late.job);
    assert.equal(await late.done, "cancelled");
  } finally {
    pool.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
