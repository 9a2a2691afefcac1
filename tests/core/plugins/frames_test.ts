import * as arrow from "apache-arrow";
import assert from "node:assert/strict";
import { encodeFrame, FrameTooLargeError, readFrames } from "../../../core/plugins/frames.ts";
import { rowsToTable, tableToRows } from "../../../core/plugins/result_table.ts";

/** A stream delivering `bytes` in chunks of `size` bytes, as a pipe may. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

Deno.test("frames survive any chunking, in order, with their payloads", async () => {
  const payload = new Uint8Array(10_000).map((_, i) => i % 251);
  const bytes = new Uint8Array([
    ...encodeFrame({ type: "a", id: 12345678901234567890n }),
    ...encodeFrame({ type: "b" }, payload),
    ...encodeFrame({ type: "c" }),
  ]);
  for (const size of [1, 7, 4096, bytes.byteLength]) {
    const frames = await Array.fromAsync(readFrames<{ type: string }>(chunked(bytes, size)));
    assert.deepEqual(frames.map((f) => f.message), [
      { type: "a", id: "12345678901234567890" },
      { type: "b" },
      { type: "c" },
    ]);
    assert.deepEqual(frames[1].payload, payload);
    assert.equal(frames[0].payload.byteLength, 0);
  }
});

Deno.test("a frame larger than the limit is refused from its header, before its bytes arrive", async () => {
  const header = encodeFrame({ type: "rows" }, new Uint8Array(2_000)).slice(0, 8);
  // Only the header is ever sent: the refusal cannot wait for the rest.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(header);
      controller.close();
    },
  });
  const frames = readFrames(stream, { maxBytes: 1_000 });
  await assert.rejects(frames.next(), (error: unknown) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.ok(error.bytes > 2_000);
    return true;
  });
});

Deno.test("result rows travel as an Arrow table and come back equal, nulls included", () => {
  const outputs = {
    label: "string",
    score: "float64",
    n: "int64",
    k: "int32",
    ok: "bool",
  } as const;
  const rows = [
    { id: 1n, label: "RRLyr", score: 0.5, n: 2n ** 40n, k: -3, ok: true },
    { id: 2n, label: null, score: null, n: null, k: null, ok: null },
  ];
  assert.deepEqual(tableToRows(rowsToTable(rows, outputs), outputs), rows);

  // Through the IPC stream, over several bytes of validity bits, in slices and in chunks.
  const many = Array.from({ length: 70 }, (_, i) => ({
    id: BigInt(i) - 2n ** 62n,
    label: i % 5 === 0 ? null : `c${i}`,
    score: i % 3 === 0 ? null : i === 1 ? NaN : i === 2 ? -0 : i / 7,
    n: i % 4 === 0 ? null : BigInt(i) * 2n ** 40n,
    k: i % 6 === 0 ? null : -i,
    ok: i % 7 === 0 ? null : i % 2 === 0,
  }));
  const table = arrow.tableFromIPC(arrow.tableToIPC(rowsToTable(many, outputs), "stream"));
  assert.deepEqual(tableToRows(table, outputs), many);
  assert.deepEqual(tableToRows(table.slice(9, 30), outputs), many.slice(9, 30));
  const chunked = table.slice(0, 33).concat(table.slice(33));
  assert.equal(chunked.batches.length, 2);
  assert.deepEqual(tableToRows(chunked, outputs), many);
  // Columns the table lacks come back null.
  assert.deepEqual(tableToRows(table.select(["id"]), outputs)[3], {
    id: many[3].id,
    label: null,
    score: null,
    n: null,
    k: null,
    ok: null,
  });
});
