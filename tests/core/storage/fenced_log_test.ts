/**
 * The fenced commit log under contention, on a local folder and on the WebHDFS
 * test server: writers commit in a loop while others take the key over, all
 * at once. Every commit builds on its session's state (a count plus one), so
 * a commit that landed after another session took over would lose or repeat
 * a count: the final count equals the commits that succeeded, and every
 * failed one was fenced.
 */
import assert from "node:assert/strict";
import { FencedError, type LogSession, openSession } from "../../../core/storage/fenced_log.ts";
import { LocalStorage, openStorage, WebHdfsStorage } from "../../../core/storage/mod.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { latestRecord } from "../../../core/storage/fenced_log.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";
import { SeededRandom } from "../../../simulator/alerts/random.ts";
import { intercept } from "../../support/intercept.ts";

interface Count {
  count: number;
}

const WRITERS = 4;
const ROUNDS = 12;

/** The options of the log every test opens, as writer `member` (process `pid`). */
function logOptions(member = "a", pid = 1) {
  return {
    dir: "_log/key",
    staging: "_staging/key",
    owner: { member, host: "test", pid },
    initial: () => Promise.resolve({ count: 0 }),
  };
}

async function contend(storage: Storage): Promise<void> {
  const options = (writer: number) => logOptions(`writer-${writer}`, writer);
  let succeeded = 0;
  let fenced = 0;
  const random = new SeededRandom(7);
  const writers = await Promise.allSettled(Array.from({ length: WRITERS }, async (_, writer) => {
    let session: LogSession<Count> = await openSession(storage, options(writer));
    for (let round = 0; round < ROUNDS; round++) {
      // Now and then this writer takes the key over, as a newly assigned owner does.
      if (random.next() < 0.3) session = await openSession(storage, options(writer));
      const staged = session.stage(`out/${writer}-${round}.txt`);
      try {
        // The staging folder of a session that was just fenced may be gone: so is the session.
        await storage.writeFile(staged, new TextEncoder().encode(`${writer}/${round}`)).catch(
          async (error) => {
            throw await session.fencedNow() ?? error;
          },
        );
        await session.commit({
          state: (state) => ({ count: state.count + 1 }),
          renames: [{ from: staged, to: `out/${writer}-${round}.txt` }],
        });
        succeeded++;
      } catch (error) {
        assert.ok(error instanceof FencedError, `expected a FencedError, found ${error}`);
        fenced++;
        session = await openSession(storage, options(writer));
      }
    }
  }));
  for (const w of writers) if (w.status === "rejected") throw w.reason;
  const latest = await latestRecord<Count>(storage, "_log/key");
  assert.equal(latest?.record.state.count, succeeded, "each landed commit counted once");
  assert.ok(fenced > 0, "the writers fenced each other");
  const visible = (await storage.list("out")).length;
  assert.equal(visible, succeeded, "only the files of landed commits are visible");
}

Deno.test("fenced log: contending writers on a local folder never lose or repeat a commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fenced_log_" });
  try {
    await contend(new LocalStorage(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fenced log: contending writers on WebHDFS never lose or repeat a commit", async () => {
  await using server = await WebHdfsTestServer.start();
  await contend(openStorage(server.url("/fink")));
});

Deno.test("fenced log: two processes completing one record at once never lose its file (WebHDFS)", async () => {
  await using server = await WebHdfsTestServer.start();
  // A's look at the destination waits until B, taking the key over, has completed the record.
  const completed = Promise.withResolvers<void>();
  let holding = false;
  const slowFetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const looksAtFinal = url.searchParams.get("op") === "GETFILESTATUS" &&
      url.pathname.endsWith("/out/file.txt");
    if (holding && looksAtFinal) await completed.promise;
    return await fetch(input, init);
  };
  const a = new WebHdfsStorage({ endpoint: server.endpoint, root: "/fink", fetch: slowFetch });
  const b = openStorage(server.url("/fink"));
  const session = await openSession<Count>(a, logOptions());
  const staged = session.stage("out/file.txt");
  await a.writeFile(staged, new TextEncoder().encode("the batch"));
  holding = true;
  const committing = session.commit({
    state: () => ({ count: 1 }),
    renames: [{ from: staged, to: "out/file.txt" }],
  });
  await waitForRecord(b);
  await openSession<Count>(b, logOptions("b", 2));
  completed.resolve();
  await committing;
  assert.equal(new TextDecoder().decode(await b.readFile("out/file.txt")), "the batch");
});

/** Resolves once the log's first commit record exists (polled: its writer is another client). */
async function waitForRecord(storage: Storage): Promise<void> {
  while ((await latestRecord<Count>(storage, "_log/key"))?.record.kind !== "commit") {
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("fenced log: a queued commit's removes and onlyIf are asked at its turn, after the commits ahead of it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fenced_log_" });
  try {
    const local = new LocalStorage(dir);
    // The first commit's record waits until the others are queued behind it.
    const queued = Promise.withResolvers<void>();
    let holding = false;
    const storage = intercept(local, "createIfAbsent", (own) => {
      if (!holding) return undefined;
      holding = false;
      return async (path, data) => {
        await queued.promise;
        return await own(path, data);
      };
    });
    const session = await openSession<Count>(storage, logOptions());
    const staged = async (name: string) => {
      const path = session.stage(`out/${name}`);
      await storage.writeFile(path, new TextEncoder().encode(name));
      return { from: path, to: `out/${name}` };
    };
    const a = await staged("a.txt");
    holding = true;
    const first = session.commit({
      state: (s) => ({ count: s.count + 1 }),
      renames: [a],
    });
    // Replaces whatever is in out/ when it runs: a.txt, which the first commit adds.
    const second = session.commit({
      state: (s) => ({ count: s.count + 1 }),
      renames: [await staged("b.txt")],
      removes: async () => (await storage.list("out")).map((e) => e.path),
    });
    // Wanted only if nothing committed before it: the first one did.
    const third = session.commit({
      state: (s) => ({ count: s.count + 1 }),
      renames: [await staged("c.txt")],
      onlyIf: () => session.state.count === 0,
    });
    queued.resolve();
    assert.deepEqual(await Promise.all([first, second, third]), [true, true, false]);
    assert.deepEqual((await storage.list("out")).map((e) => e.name), ["b.txt"]);
    assert.equal(session.state.count, 2);
    assert.deepEqual(await storage.list(session.stagingDir), [], "c.txt's staged file is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fenced log: a takeover whose slot the owner freed meanwhile (two commits since its listing) fences at the head", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fenced_log_" });
  try {
    const local = new LocalStorage(dir);
    const owner = await openSession<Count>(local, logOptions());
    const count = { state: (s: Count) => ({ count: s.count + 1 }) };
    await owner.commit(count);
    // B has listed records 0-1; before its fence lands at slot 2, the owner commits at 2 and
    // 3 and deletes its record 2: slot 2 is free again.
    let raced = false;
    const b = intercept(local, "createIfAbsent", (own) => {
      if (raced) return undefined;
      raced = true;
      return async (path, data) => {
        await owner.commit(count);
        await owner.commit(count);
        return await own(path, data);
      };
    });
    const taken = await openSession<Count>(b, logOptions("a", 2));
    assert.equal(taken.state.count, 3, "the takeover starts from the owner's last commit");
    await assert.rejects(owner.commit(count), FencedError, "the owner is fenced");
    assert.equal(await taken.commit(count), true);
    assert.equal((await latestRecord<Count>(local, "_log/key"))?.record.state.count, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
