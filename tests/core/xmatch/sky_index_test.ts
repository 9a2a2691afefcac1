import assert from "node:assert/strict";
import { angularSeparationDeg, SkyIndex } from "../../../core/xmatch/sky_index.ts";

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bruteForce(
  ra: ArrayLike<number>,
  dec: ArrayLike<number>,
  qra: number,
  qdec: number,
  radiusArcsec: number,
): [number, number] {
  let best = -1;
  let bestSep = Infinity;
  for (let i = 0; i < ra.length; i++) {
    const sep = angularSeparationDeg({ ra: qra, dec: qdec }, { ra: ra[i], dec: dec[i] }) * 3600;
    if (sep < radiusArcsec && sep < bestSep) {
      best = i;
      bestSep = sep;
    }
  }
  return [best, bestSep];
}

Deno.test("Vincenty separation: known angles and tiny separations", () => {
  assert.equal(angularSeparationDeg({ ra: 10, dec: 20 }, { ra: 10, dec: 20 }), 0);
  assert.ok(Math.abs(angularSeparationDeg({ ra: 0, dec: 0 }, { ra: 180, dec: 0 }) - 180) < 1e-12);
  assert.ok(Math.abs(angularSeparationDeg({ ra: 0, dec: 90 }, { ra: 123, dec: 89 }) - 1) < 1e-12);
  assert.ok(
    Math.abs(angularSeparationDeg({ ra: 359.9999, dec: 0 }, { ra: 0.0001, dec: 0 }) * 3600 - 0.72) <
      1e-9,
  );
  // 1 milliarcsecond along a meridian stays exact in double precision.
  const mas = angularSeparationDeg({ ra: 45, dec: 30 }, { ra: 45, dec: 30 + 1 / 3.6e6 }) * 3.6e6;
  assert.ok(Math.abs(mas - 1) < 1e-6, String(mas));
});

Deno.test("nearest match equals brute force on a clustered random sky", () => {
  const rnd = random(42);
  const n = 5000;
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Half uniform on the sphere, half packed near the poles and the RA seam.
    if (i % 2 === 0) {
      ra[i] = rnd() * 360;
      dec[i] = Math.asin(2 * rnd() - 1) * 180 / Math.PI;
    } else {
      ra[i] = (360 + (rnd() - 0.5) * 0.02) % 360;
      dec[i] = (i % 4 === 1 ? 1 : -1) * (90 - rnd() * 0.01);
    }
  }
  let hits = 0;
  let misses = 0;
  for (const zoneHeightArcsec of [undefined, 1, 60, 3600 * 10]) {
    const index = SkyIndex.build(ra, dec, { zoneHeightArcsec });
    for (let q = 0; q < 600; q++) {
      const k = Math.floor(rnd() * n);
      const radius = [1.5, 60, 1200][q % 3];
      const qra = ra[k] + (rnd() - 0.5) * radius / 900;
      const qdec = Math.max(-90, Math.min(90, dec[k] + (rnd() - 0.5) * radius / 900));
      const [want, wantSep] = bruteForce(ra, dec, qra, qdec, radius);
      const got = index.nearest(qra, qdec, { radiusArcsec: radius });
      assert.equal(got, want, `query ${q} (${qra}, ${qdec}) r=${radius}`);
      if (want >= 0) {
        hits++;
        assert.ok(Math.abs(index.lastSeparationArcsec - wantSep) < 1e-7);
      } else {
        misses++;
        assert.ok(Number.isNaN(index.lastSeparationArcsec));
      }
    }
  }
  assert.ok(hits > 200 && misses > 200, `hits ${hits}, misses ${misses}`);
});

Deno.test("RA wrap-around at 0/360 and negative or >360 query RAs", () => {
  const index = SkyIndex.build([359.9999, 0.0003, 180], [10, 10, 10]);
  assert.equal(index.nearest(0.00005, 10, { radiusArcsec: 1.5 }), 0);
  assert.equal(index.nearest(0.0002, 10, { radiusArcsec: 1.5 }), 1);
  assert.equal(index.nearest(-0.00005, 10, { radiusArcsec: 1.5 }), 0);
  assert.equal(index.nearest(360.0002, 10, { radiusArcsec: 1.5 }), 1);
  assert.equal(index.nearest(540, 10, { radiusArcsec: 1 }), 2);
  const sep = angularSeparationDeg({ ra: 0.00005, dec: 10 }, { ra: 359.9999, dec: 10 }) * 3600;
  index.nearest(0.00005, 10, { radiusArcsec: 1.5 });
  assert.ok(Math.abs(index.lastSeparationArcsec - sep) < 1e-9);
});

Deno.test("poles: every RA is near dec = ±90", () => {
  const index = SkyIndex.build([0, 90, 200, 10], [89.9999, 89.99985, -89.9998, 0]);
  // From the pole itself both northern sources are within 1″; the closer wins.
  assert.equal(index.nearest(123, 90, { radiusArcsec: 1 }), 0);
  assert.ok(Math.abs(index.lastSeparationArcsec - 0.36) < 1e-6);
  // Across the pole: RA 270 at 89.9999 is 0.72″ from RA 90 at 89.9999 (through the pole).
  assert.equal(index.nearest(270, 89.9999, { radiusArcsec: 0.8 }), 0);
  assert.equal(index.nearest(20, -90, { radiusArcsec: 1 }), 2);
  assert.equal(index.nearest(20, -90, { radiusArcsec: 0.5 }), -1);
});

Deno.test("radius is strict and separations are exact", () => {
  const d = 1.5 / 3600;
  const index = SkyIndex.build([50], [0]);
  assert.equal(index.nearest(50 + d * 0.999999, 0, { radiusArcsec: 1.5 }), 0);
  assert.equal(index.nearest(50 + d * 1.000001, 0, { radiusArcsec: 1.5 }), -1);
  assert.equal(index.nearest(50, 0, { radiusArcsec: 1.5 }), 0);
  assert.equal(index.lastSeparationArcsec, 0);
});

Deno.test("bad queries match nothing and bad sources are refused at build", () => {
  const index = SkyIndex.build([1, 2], [3, 4]);
  for (
    const [ra, dec, r] of [[NaN, 3, 1], [1, NaN, 1], [1, 91, 1], [Infinity, 3, 1], [1, 3, 0], [
      1,
      3,
      -1,
    ]]
  ) {
    assert.equal(index.nearest(ra, dec, { radiusArcsec: r }), -1);
  }
  assert.throws(() => SkyIndex.build([1, 2], [3]), /as many declinations/);
  assert.throws(() => SkyIndex.build([1, NaN], [3, 4]), /source 1 at a finite RA/);
  assert.throws(() => SkyIndex.build([1], [95]), /Dec in \[-90, 90\], found \(1, 95\)/);
  assert.throws(() => SkyIndex.build([1], [5], { zoneHeightArcsec: 0 }), /positive zone height/);
  assert.equal(SkyIndex.build([], []).nearest(1, 2, { radiusArcsec: 3 }), -1);
});

Deno.test("matchAll fills rows and separations and checks output sizes", () => {
  const index = SkyIndex.build([10, 20], [0, 0]);
  const out = { radiusArcsec: 1, index: new Int32Array(3), separationArcsec: new Float64Array(3) };
  index.matchAll([10, 20.0001, 30], [0, 0, 0], out);
  assert.deepEqual(Array.from(out.index), [0, 1, -1]);
  assert.equal(out.separationArcsec[0], 0);
  assert.ok(Math.abs(out.separationArcsec[1] - 0.36) < 1e-9);
  assert.ok(Number.isNaN(out.separationArcsec[2]));
  assert.throws(
    () => index.matchAll([1, 2, 3, 4], [1, 2, 3, 4], out),
    /outputs of at least 4, found 4, 3 and 3/,
  );
});
