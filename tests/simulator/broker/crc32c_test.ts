import assert from "node:assert/strict";
import { crc32c } from "../../../simulator/broker/crc32c.ts";
import { readAlerts } from "./ztf_alerts.ts";

function bitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

Deno.test("crc32c matches the Castagnoli check values", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

Deno.test("crc32c slicing-by-8 agrees with the bitwise definition on real alerts at every alignment", () => {
  const alert = readAlerts("fink-broker-local-20200101", 1)[0].bytes;
  for (let start = 0; start < 9; start++) {
    for (const length of [0, 1, 7, 8, 9, 63, 1000]) {
      const part = alert.subarray(start, start + length);
      assert.equal(crc32c(part), bitwise(part));
    }
  }
  assert.equal(crc32c(alert), bitwise(alert));
});
