/**
 * A spherical index for nearest-neighbour cross-matching: sources are cut into
 * declination zones and sorted by right ascension inside each zone, so a cone
 * query touches only the zones overlapping [dec - r, dec + r] and, in each, the
 * RA window of half-width asin(sin r / cos dec) (wrapping at 0/360°, the whole
 * zone near a pole). Candidates are compared by chord length on unit vectors and
 * the winner's separation is computed exactly with atan2(|p×q|, p·q) (the
 * Vincenty form), in double precision.
 */

const DEG = Math.PI / 180;
/** Extra RA half-width, in degrees, so rounding never drops a source on the window edge. */
const RA_MARGIN_DEG = 1e-9;
const MAX_ZONES = 1 << 20;
const MIN_ZONES = 64;

/** A position on the sky in degrees. */
export interface SkyPoint {
  ra: number;
  dec: number;
}

/**
 * Great-circle separation in degrees between two positions, with the Vincenty
 * formula (accurate at every angle, no cancellation near 0 or 180°).
 */
export function angularSeparationDeg(a: SkyPoint, b: SkyPoint): number {
  const d1 = a.dec * DEG;
  const d2 = b.dec * DEG;
  const dra = (b.ra - a.ra) * DEG;
  const sd1 = Math.sin(d1);
  const cd1 = Math.cos(d1);
  const sd2 = Math.sin(d2);
  const cd2 = Math.cos(d2);
  const sdra = Math.sin(dra);
  const cdra = Math.cos(dra);
  const x = cd2 * sdra;
  const y = cd1 * sd2 - sd1 * cd2 * cdra;
  return Math.atan2(Math.sqrt(x * x + y * y), sd1 * sd2 + cd1 * cd2 * cdra) / DEG;
}

/** Options for {@link SkyIndex.build}. */
export interface SkyIndexOptions {
  /** Height of a declination zone; by default 180° divided by the source count (64 to 2^20 zones). */
  zoneHeightArcsec?: number;
}

/** The cone of a query; pass the same object on every call to avoid allocating. */
export interface ConeOptions {
  /** Match radius in arcseconds; a source must be strictly closer. */
  radiusArcsec: number;
}

/** Radius and outputs of {@link SkyIndex.matchAll}; arrays at least as long as the query. */
export interface MatchAllOptions extends ConeOptions {
  /** Row of the nearest source within the radius, or -1. */
  index: Int32Array;
  /** Separation to that source in arcseconds, or NaN. */
  separationArcsec: Float64Array;
}

function normalizeRa(ra: number): number {
  const r = ra % 360;
  return r < 0 ? r + 360 : r;
}

/** A zone-based spherical index over fixed source positions. */
export class SkyIndex {
  /** Number of indexed sources. */
  readonly size: number;
  /** Height of one declination zone, in degrees. */
  readonly zoneHeightDeg: number;
  /** Separation of the last {@link nearest} answer in arcseconds (NaN when none). */
  lastSeparationArcsec = NaN;

  readonly #zones: number;
  readonly #zoneStart: Int32Array;
  readonly #ra: Float64Array;
  readonly #x: Float64Array;
  readonly #y: Float64Array;
  readonly #z: Float64Array;
  readonly #order: Int32Array;
  #bestPos = -1;
  #bestChord2 = Infinity;
  #radiusArcsec = NaN;
  #sinR = 0;
  #chordMax2 = 0;

  private constructor(
    zoneHeightDeg: number,
    zoneStart: Int32Array,
    ra: Float64Array,
    x: Float64Array,
    y: Float64Array,
    z: Float64Array,
    order: Int32Array,
  ) {
    this.size = order.length;
    this.zoneHeightDeg = zoneHeightDeg;
    this.#zones = zoneStart.length - 1;
    this.#zoneStart = zoneStart;
    this.#ra = ra;
    this.#x = x;
    this.#y = y;
    this.#z = z;
    this.#order = order;
  }

  /**
   * Builds the index once from source positions in degrees.
   *
   * @throws Error naming the first row whose position is not a finite RA and a Dec in [-90, 90]
   */
  static build(
    ra: ArrayLike<number>,
    dec: ArrayLike<number>,
    options: SkyIndexOptions = {},
  ): SkyIndex {
    const n = ra.length;
    if (dec.length !== n) {
      throw new Error(
        `Expected as many declinations as right ascensions, found ${dec.length} and ${n}`,
      );
    }
    let zones: number;
    if (options.zoneHeightArcsec !== undefined) {
      if (!(options.zoneHeightArcsec > 0)) {
        throw new Error(`Expected a positive zone height, found ${options.zoneHeightArcsec}`);
      }
      zones = Math.min(MAX_ZONES, Math.max(1, Math.ceil(180 / (options.zoneHeightArcsec / 3600))));
    } else {
      zones = Math.min(MAX_ZONES, Math.max(MIN_ZONES, n));
    }
    const height = 180 / zones;
    const zoneOf = new Int32Array(n);
    const counts = new Int32Array(zones + 1);
    for (let i = 0; i < n; i++) {
      const d = dec[i];
      const r = ra[i];
      if (!Number.isFinite(r) || !(d >= -90 && d <= 90)) {
        throw new Error(
          `Expected source ${i} at a finite RA and a Dec in [-90, 90], found (${r}, ${d})`,
        );
      }
      const z = Math.min(zones - 1, Math.floor((d + 90) / height));
      zoneOf[i] = z;
      counts[z + 1]++;
    }
    for (let z = 0; z < zones; z++) counts[z + 1] += counts[z];
    const zoneStart = counts.slice();
    const fill = counts.slice(0, zones);
    const order = new Int32Array(n);
    const normRa = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      normRa[i] = normalizeRa(ra[i]);
      order[fill[zoneOf[i]]++] = i;
    }
    const byRa = (a: number, b: number) => normRa[a] - normRa[b];
    for (let z = 0; z < zones; z++) {
      const s = zoneStart[z];
      const e = zoneStart[z + 1];
      if (e - s > 1) order.subarray(s, e).sort(byRa);
    }
    const sra = new Float64Array(n);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    const zz = new Float64Array(n);
    for (let p = 0; p < n; p++) {
      const i = order[p];
      const a = normRa[i] * DEG;
      const d = dec[i] * DEG;
      const cd = Math.cos(d);
      sra[p] = normRa[i];
      x[p] = cd * Math.cos(a);
      y[p] = cd * Math.sin(a);
      zz[p] = Math.sin(d);
    }
    return new SkyIndex(height, zoneStart, sra, x, y, zz, order);
  }

  /**
   * Row (as given to {@link build}) of the source nearest to (ra, dec) strictly
   * within the radius, or -1. Its separation is left in {@link lastSeparationArcsec}.
   * Positions that are not finite, or a Dec outside [-90, 90], match nothing.
   */
  nearest(ra: number, dec: number, cone: ConeOptions): number {
    const radiusArcsec = cone.radiusArcsec;
    this.lastSeparationArcsec = NaN;
    if (!Number.isFinite(ra) || !(dec >= -90 && dec <= 90) || !(radiusArcsec > 0)) return -1;
    if (radiusArcsec !== this.#radiusArcsec) this.#setRadius(radiusArcsec);
    const r = radiusArcsec / 3600;
    const a = normalizeRa(ra);
    const ad = a * DEG;
    const dd = dec * DEG;
    const cd = Math.cos(dd);
    const qx = cd * Math.cos(ad);
    const qy = cd * Math.sin(ad);
    const qz = Math.sin(dd);
    const height = this.zoneHeightDeg;
    const last = this.#zones - 1;
    const zlo = Math.max(0, Math.floor((dec - r + 90) / height));
    const zhi = Math.min(last, Math.floor((dec + r + 90) / height));
    let halfWidth = 360;
    if (Math.abs(dec) + r < 90) {
      const s = this.#sinR / cd;
      if (s < 1) halfWidth = Math.asin(s) / DEG + RA_MARGIN_DEG;
    }
    this.#bestPos = -1;
    this.#bestChord2 = Infinity;
    for (let z = zlo; z <= zhi; z++) {
      const start = this.#zoneStart[z];
      const end = this.#zoneStart[z + 1];
      if (start === end) continue;
      if (halfWidth >= 180) {
        this.#scan(start, end, qx, qy, qz);
        continue;
      }
      const lo = a - halfWidth;
      const hi = a + halfWidth;
      if (lo < 0) {
        this.#scanRa(start, end, lo + 360, 360, qx, qy, qz);
        this.#scanRa(start, end, 0, hi, qx, qy, qz);
      } else if (hi >= 360) {
        this.#scanRa(start, end, lo, 360, qx, qy, qz);
        this.#scanRa(start, end, 0, hi - 360, qx, qy, qz);
      } else {
        this.#scanRa(start, end, lo, hi, qx, qy, qz);
      }
    }
    const p = this.#bestPos;
    if (p < 0) return -1;
    const px = this.#x[p];
    const py = this.#y[p];
    const pz = this.#z[p];
    const cx = py * qz - pz * qy;
    const cy = pz * qx - px * qz;
    const cz = px * qy - py * qx;
    const sep = Math.atan2(Math.sqrt(cx * cx + cy * cy + cz * cz), px * qx + py * qy + pz * qz) /
      DEG * 3600;
    if (!(sep < radiusArcsec)) return -1;
    this.lastSeparationArcsec = sep;
    return this.#order[p];
  }

  /**
   * Runs {@link nearest} for every query position and writes rows and separations
   * into `options.index` and `options.separationArcsec`.
   *
   * @throws Error when the output arrays are shorter than the query
   */
  matchAll(ra: ArrayLike<number>, dec: ArrayLike<number>, options: MatchAllOptions): void {
    const n = ra.length;
    const { index, separationArcsec } = options;
    if (dec.length !== n || index.length < n || separationArcsec.length < n) {
      throw new Error(
        `Expected ${n} declinations and outputs of at least ${n}, found ${dec.length}, ` +
          `${index.length} and ${separationArcsec.length}`,
      );
    }
    for (let i = 0; i < n; i++) {
      index[i] = this.nearest(ra[i], dec[i], options);
      separationArcsec[i] = this.lastSeparationArcsec;
    }
  }

  #setRadius(radiusArcsec: number): void {
    const rr = Math.min(Math.PI, radiusArcsec / 3600 * DEG);
    const chord = 2 * Math.sin(rr / 2);
    this.#radiusArcsec = radiusArcsec;
    this.#sinR = Math.sin(Math.min(Math.PI / 2, rr));
    // A hair above the true chord: the exact separation decides at the end.
    this.#chordMax2 = chord * chord * (1 + 1e-9) + 1e-24;
  }

  #scan(start: number, end: number, qx: number, qy: number, qz: number): void {
    const x = this.#x;
    const y = this.#y;
    const z = this.#z;
    const limit = this.#chordMax2;
    for (let p = start; p < end; p++) {
      const dx = x[p] - qx;
      const dy = y[p] - qy;
      const dz = z[p] - qz;
      const c2 = dx * dx + dy * dy + dz * dz;
      if (c2 <= limit && c2 < this.#bestChord2) {
        this.#bestChord2 = c2;
        this.#bestPos = p;
      }
    }
  }

  #scanRa(
    start: number,
    end: number,
    lo: number,
    hi: number,
    qx: number,
    qy: number,
    qz: number,
  ): void {
    const ra = this.#ra;
    let l = start;
    let h = end;
    while (l < h) {
      const m = (l + h) >>> 1;
      if (ra[m] < lo) l = m + 1;
      else h = m;
    }
    let p = l;
    while (p < end && ra[p] <= hi) p++;
    if (p > l) this.#scan(l, p, qx, qy, qz);
  }
}
