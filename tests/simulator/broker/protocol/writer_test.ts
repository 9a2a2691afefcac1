import assert from "node:assert/strict";
import { Writer } from "../../../../simulator/broker/protocol/writer.ts";
import { Reader } from "../../../../simulator/broker/protocol/reader.ts";

Deno.test("Writer keeps every value when its buffer grows mid-write", () => {
  const w = new Writer();
  for (let i = 0; i < 2000; i++) {
    w.int8(-1).int16(i).int32(-i).uint32(i * 7).int64(BigInt(i) << 20n).uvarint(i * 300)
      .varint(-i).varlong(BigInt(-i) * 1000n).raw(new Uint8Array([i & 0xff, 1, 2]))
      .compactString(`s${i}`).string(`t${i}`);
  }
  const r = new Reader(w.bytes());
  for (let i = 0; i < 2000; i++) {
    assert.equal(r.int8(), -1);
    assert.equal(r.int16(), i);
    assert.equal(r.int32(), 0 - i || 0);
    assert.equal(r.uint32(), i * 7);
    assert.equal(r.int64(), BigInt(i) << 20n);
    assert.equal(r.uvarint(), i * 300);
    assert.equal(r.varint(), 0 - i || 0);
    assert.equal(r.varlong(), BigInt(-i) * 1000n);
    assert.deepEqual([...r.raw(3)], [i & 0xff, 1, 2]);
    assert.equal(r.compactString(), `s${i}`);
    assert.equal(r.string(), `t${i}`);
  }
  assert.equal(r.remaining, 0);
});

Deno.test("Writer keeps large payloads by reference and small ones inline", () => {
  const big = new Uint8Array(10_000).fill(5);
  const w = new Writer().int32(1).raw(big).int32(2);
  const chunks = w.chunks();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], big);
  assert.equal(w.length, 10_008);
});
