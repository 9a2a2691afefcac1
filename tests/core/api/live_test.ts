import assert from "node:assert/strict";
import type { LiveSnapshot } from "../../../core/api/live.ts";
import { startTestApi } from "./fleet.ts";
import { waitFor } from "../../support/wait.ts";

/** Reads server-sent events from a response body. */
function eventReader(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    /** The next event, or null when the stream ended. */
    async next(): Promise<{ event: string; id: string; data: string } | null> {
      while (!buffer.includes("\n\n")) {
        const { done, value } = await reader.read();
        if (done) return null;
        buffer += value;
      }
      const end = buffer.indexOf("\n\n");
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = { event: "message", id: "", data: "" };
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        const key = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        fields[key] = key === "data" && fields.data !== "" ? `${fields.data}\n${value}` : value;
      }
      return { event: fields.event, id: fields.id, data: fields.data };
    },
    cancel: () => reader.cancel(),
  };
}

Deno.test("live sends a snapshot per sample with rising counts and stops when the client leaves", async () => {
  const api = await startTestApi({ sampleMs: 100 });
  // Alerts arrive right after each sample, so every later sample counts more of them.
  const stopFeeding = api.recorder.subscribe(() => api.archive.feed(3));
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    const res = await fetch(`${api.url}/api/live`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    const events = eventReader(res.body!);
    const snapshots: LiveSnapshot[] = [];
    while (snapshots.length < 4) {
      const e = await events.next();
      assert.ok(e !== null, "the stream stays open");
      assert.equal(e.event, "snapshot");
      assert.equal(Number(e.id), snapshots.length + 1);
      snapshots.push(JSON.parse(e.data));
    }
    stopFeeding();
    assert.equal(api.recorder.subscribers, 1);
    const received = snapshots.map((s) => s.totals.received);
    assert.ok(received.every((n, i) => i === 0 || n > received[i - 1]), `rising: ${received}`);
    assert.ok(snapshots.every((s, i) => i === 0 || s.t > snapshots[i - 1].t));
    const last = snapshots[3];
    assert.deepEqual(last.lag.partitions.map((p) => [p.topic, p.partition]), [["ztf-sim", 0], [
      "ztf-sim",
      1,
    ]]);
    assert.equal(last.plugins[0].name, "classify");
    assert.ok(last.classes !== null && Object.keys(last.classes).length > 0);
    assert.equal(last.services.find((s) => s.name === "archive")?.state, "running");

    await events.cancel();
    await waitFor("the server unsubscribed the gone client", () => api.recorder.subscribers === 0);
  } finally {
    stopFeeding();
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("live streams end when the process stops, so the server can shut down", async () => {
  const api = await startTestApi({ sampleMs: 100 });
  try {
    const res = await fetch(`${api.url}/api/live`);
    const events = eventReader(res.body!);
    assert.equal((await events.next())?.event, "snapshot");
    await api.recorder.close();
    const drained = (async () => {
      while (await events.next() !== null) continue;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("The live stream did not end")), 5000);
    });
    await Promise.race([drained, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});
