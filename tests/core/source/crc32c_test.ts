import assert from "node:assert/strict";
import { crc32c, crc32cSoftware } from "../../../core/source/crc32c.ts";
import { readAlerts } from "../../simulator/broker/ztf_alerts.ts";

function bitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

for (const [name, crc] of [["crc32c", crc32c], ["crc32c in software", crc32cSoftware]] as const) {
  Deno.test(`${name} matches the Castagnoli check values`, () => {
    assert.equal(crc(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc(new Uint8Array(0)), 0);
  });

  Deno.test(`${name} agrees with the bitwise definition on real alerts at every alignment`, () => {
    const alert = readAlerts("fink-broker-local-20200101", 1)[0].bytes;
    for (let start = 0; start < 17; start++) {
      for (const length of [0, 1, 7, 8, 9, 15, 16, 17, 63, 1000]) {
        const part = alert.subarray(start, start + length);
        assert.equal(crc(part), bitwise(part));
      }
    }
    assert.equal(crc(alert), bitwise(alert));
  });
}

Deno.test("the hardware CRC-32C is the one in use on this machine", () => {
  assert.notEqual(crc32c, crc32cSoftware, "@node-rs/crc32 did not load");
});
