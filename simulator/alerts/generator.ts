/**
 * Deterministic generator of synthetic ZTF-like alerts (schema `fink.sim.alert`,
 * schemavsn "sim-1"): a population of objects whose light curves evolve, each alert
 * carrying the object's earlier detections and gzipped FITS cutouts.
 */
import { type CutoutPool, type CutoutScene, sharedCutoutPool } from "./cutouts.ts";
import { type LightCurve, MAG_RANGE, makeLightCurve, type ObjectKind } from "./light_curves.ts";
import { SeededRandom } from "./random.ts";
import { offsetPosition, randomPosition, type SkyPosition } from "./sky.ts";

/** Value of `schemavsn` in synthetic alerts. */
export const SIM_SCHEMA_VERSION = "sim-1";

/** A cutout record: file name and gzipped FITS bytes. */
export interface SimCutout {
  /** ZTF-style file name of the stamp. */
  fileName: string;
  /** Gzipped FITS image, 63x63 float32. */
  stampData: Uint8Array;
}

/** An earlier detection (magpsf set) or non-detection (magpsf null) of the object. */
export interface SimPrvCandidate {
  jd: number;
  fid: number;
  pid: bigint;
  diffmaglim: number | null;
  programid: number;
  candid: bigint | null;
  isdiffpos: string | null;
  nid: number | null;
  field: number | null;
  ra: number | null;
  dec: number | null;
  magpsf: number | null;
  sigmapsf: number | null;
  magnr: number | null;
  sigmagnr: number | null;
  distnr: number | null;
  rb: number | null;
  ssdistnr: number | null;
  ssmagnr: number | null;
  ssnamenr: string | null;
  magzpsci: number | null;
  rbversion: string;
}

/** The detection that triggered the alert (field meanings as in ZTF). */
export interface SimCandidate {
  jd: number;
  fid: number;
  pid: bigint;
  diffmaglim: number | null;
  programid: number;
  candid: bigint;
  isdiffpos: string;
  nid: number | null;
  rcid: number | null;
  field: number | null;
  xpos: number | null;
  ypos: number | null;
  ra: number;
  dec: number;
  magpsf: number;
  sigmapsf: number;
  chipsf: number | null;
  magap: number | null;
  sigmagap: number | null;
  distnr: number | null;
  magnr: number | null;
  sigmagnr: number | null;
  chinr: number | null;
  sharpnr: number | null;
  sky: number | null;
  magdiff: number | null;
  fwhm: number | null;
  classtar: number | null;
  mindtoedge: number | null;
  seeratio: number | null;
  elong: number | null;
  nneg: number | null;
  nbad: number | null;
  rb: number | null;
  ssdistnr: number | null;
  ssmagnr: number | null;
  ssnamenr: string | null;
  sumrat: number | null;
  ranr: number;
  decnr: number;
  objectidps1: bigint | null;
  sgmag1: number | null;
  srmag1: number | null;
  simag1: number | null;
  szmag1: number | null;
  sgscore1: number | null;
  distpsnr1: number | null;
  ndethist: number;
  ncovhist: number;
  jdstarthist: number | null;
  jdendhist: number | null;
  scorr: number | null;
  tooflag: number | null;
  jdstartref: number;
  jdendref: number;
  nframesref: number;
  rbversion: string;
  magzpsci: number | null;
  magzpsciunc: number | null;
  neargaia: number | null;
  maggaia: number | null;
  exptime: number | null;
  drb: number | null;
  drbversion: string;
}

/** One synthetic alert, ready to be encoded with the `fink.sim.alert` schema. */
export interface SimAlert {
  schemavsn: string;
  publisher: string;
  objectId: string;
  candid: bigint;
  candidate: SimCandidate;
  prv_candidates: SimPrvCandidate[] | null;
  cutoutScience: SimCutout | null;
  cutoutTemplate: SimCutout | null;
  cutoutDifference: SimCutout | null;
}

/** Options of {@link AlertGenerator}. */
export interface AlertGeneratorOptions {
  /** Seed of the pseudo-random sequence (default 1): same seed and jds, same alerts. */
  seed?: number;
  /** Real source positions; a few percent of variable stars are placed on them. */
  catalogPositions?: readonly SkyPosition[];
  /** Share of new objects put on catalog positions when some are given (default 0.03). */
  catalogFraction?: number;
  /** Pre-rendered cutouts (default: the process-wide pool). */
  cutouts?: CutoutPool;
}

interface SimObject {
  objectId: string;
  kind: ObjectKind;
  position: SkyPosition;
  firstJd: number;
  curve: LightCurve;
  field: number;
  rcid: number;
  hostOffset: number;
  ps1: Ps1Neighbour;
  motion: { ra: number; dec: number };
  ssnamenr: string | null;
  history: SimPrvCandidate[];
  ndethist: number;
  ncovhist: number;
  jdstarthist: number | null;
}

interface Ps1Neighbour {
  objectid: bigint;
  distance: number;
  sgscore: number;
  rMag: number;
}

const POPULATION = 4000;
const NEW_OBJECT_SHARE = 0.4;
const MAX_HISTORY = 30;
const JD_UNIX_EPOCH = 2440587.5;
const JD_NID_ORIGIN = 2457754.5;
const LETTERS = 26 ** 7;
const ID_STRIDE = 1_000_003;
const RB_VERSION = "t17_f5_c3";
const DRB_VERSION = "d6_m7";
const NO_SSO = -999;
const KIND_WEIGHTS: [ObjectKind, number][] = [
  ["supernova", 0.3],
  ["variable", 0.45],
  ["asteroid", 0.15],
  ["bogus", 0.1],
];

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function yearOf(jd: number): number {
  return new Date((jd - JD_UNIX_EPOCH) * 86_400_000).getUTCFullYear();
}

function nightId(jd: number): number {
  return ((Math.floor(jd - JD_NID_ORIGIN) % 9000) + 9000) % 9000;
}

/** ZTF-like processing id: night, second of the night and readout channel. */
function processingId(jd: number, rcid: number): bigint {
  const second = Math.floor((jd - Math.floor(jd)) * 86_400);
  return BigInt(nightId(jd)) * 1_000_000_000n + BigInt(second * 100 + rcid);
}

/** Pan-STARRS-like object id derived from the position (zone, RA, residual). */
function ps1ObjectId(position: SkyPosition): bigint {
  const zoneHeight = 1 / 120;
  const zone = Math.floor((position.dec + 90) / zoneHeight);
  const residual = Math.floor((((position.dec + 90) / zoneHeight) - zone) * 10_000);
  return BigInt(zone) * 10_000_000_000_000n + BigInt(Math.floor(position.ra * 1e6)) * 10_000n +
    BigInt(residual);
}

function letters(index: number): string {
  let out = "";
  let n = index;
  for (let i = 0; i < 7; i++) {
    out = String.fromCharCode(97 + (n % 26)) + out;
    n = Math.floor(n / 26);
  }
  return out;
}

function sigmaFor(mag: number): number {
  return 0.015 + 0.16 * 10 ** (0.4 * (mag - MAG_RANGE.faint));
}

/** Magnitude of the flux difference between now and the reference (what ZTF's magpsf measures). */
function differenceMag(
  mag: number,
  referenceMag: number | null,
): { mag: number; positive: boolean } {
  if (referenceMag === null) return { mag, positive: true };
  const now = 10 ** (-0.4 * mag);
  const reference = 10 ** (-0.4 * referenceMag);
  const delta = Math.abs(now - reference);
  const diff = delta > 0 ? -2.5 * Math.log10(delta) : MAG_RANGE.faint;
  return {
    mag: Math.min(MAG_RANGE.faint, Math.max(MAG_RANGE.bright, diff)),
    positive: now >= reference,
  };
}

/** Produces synthetic alerts; each call to {@link AlertGenerator.next} is one detection. */
export class AlertGenerator {
  readonly #random: SeededRandom;
  readonly #cutouts: CutoutPool;
  readonly #catalog: readonly SkyPosition[];
  readonly #catalogFraction: number;
  readonly #population: SimObject[] = [];
  readonly #idOffset: number;
  #objects = 0;
  #detections = 0;

  /** A generator; the cutout pool is rendered on first use if not given. */
  constructor(options: AlertGeneratorOptions = {}) {
    this.#random = new SeededRandom(options.seed ?? 1);
    this.#cutouts = options.cutouts ?? sharedCutoutPool();
    this.#catalog = options.catalogPositions ?? [];
    this.#catalogFraction = options.catalogFraction ?? 0.03;
    this.#idOffset = this.#random.int(LETTERS);
  }

  /** The next alert, observed at Julian date `jd` (event time). */
  next(jd: number): SimAlert {
    const random = this.#random;
    const object = this.#chooseObject(jd);
    const fid = this.#filter();
    const rcid = object.rcid;
    const pid = processingId(jd, rcid);
    const candid = this.#candid(pid);
    const trueMag = object.curve.magnitude(jd, fid);
    const diff = differenceMag(trueMag, object.curve.referenceMag);
    const sigmapsf = sigmaFor(diff.mag);
    const magpsf = Math.min(
      MAG_RANGE.faint,
      Math.max(MAG_RANGE.bright, diff.mag + sigmapsf * random.normal()),
    );
    const position = this.#observedPosition(object, jd);
    const bogus = object.kind === "bogus";
    const asteroid = object.kind === "asteroid";
    const isdiffpos = diff.positive ? "t" : "f";
    const previous = object.history.filter((entry) => entry.jd < jd).slice(-MAX_HISTORY);
    const ndethist = asteroid || bogus ? 1 : object.ndethist + 1;
    const diffmaglim = round(random.uniform(19.8, 20.9), 4);
    const magzpsci = round(random.uniform(25.8, 26.4), 4);
    const fwhm = bogus ? random.uniform(4, 12) : random.uniform(1.6, 3.4);
    const scene: CutoutScene = bogus
      ? "artifact"
      : object.kind === "variable"
      ? "star"
      : object.kind === "supernova" && object.curve.referenceMag !== null
      ? "host"
      : "bare";
    const stamps = this.#cutouts.pick(scene, magpsf, { positive: diff.positive, random });
    const referenceMag = object.curve.referenceMag;
    const candidate: SimCandidate = {
      jd,
      fid,
      pid,
      diffmaglim,
      programid: random.next() < 0.9 ? 1 : 2,
      candid,
      isdiffpos,
      nid: nightId(jd),
      rcid,
      field: object.field,
      xpos: round(random.uniform(20, 3050), 3),
      ypos: round(random.uniform(20, 3060), 3),
      ra: position.ra,
      dec: position.dec,
      magpsf: round(magpsf, 5),
      sigmapsf: round(sigmapsf, 6),
      chipsf: round(bogus ? random.uniform(5, 80) : random.uniform(0.4, 3), 4),
      magap: round(magpsf + 0.05 * random.normal(), 4),
      sigmagap: round(sigmapsf * 1.3, 5),
      distnr: referenceMag === null ? round(random.uniform(3, 30), 4) : round(object.hostOffset, 4),
      magnr: referenceMag === null ? null : round(referenceMag + 0.02 * random.normal(), 4),
      sigmagnr: referenceMag === null ? null : round(sigmaFor(referenceMag), 4),
      chinr: round(random.uniform(0.4, 2.5), 3),
      sharpnr: round(0.05 * random.normal(), 3),
      sky: round(random.normal(), 4),
      magdiff: round(0.05 * random.normal(), 5),
      fwhm: round(fwhm, 3),
      classtar: round(object.kind === "variable" ? random.uniform(0.8, 1) : random.next(), 3),
      mindtoedge: round(random.uniform(20, 1500), 3),
      seeratio: round(random.uniform(0.7, 1.4), 4),
      elong: round(bogus ? random.uniform(1.5, 4) : random.uniform(1, 1.3), 4),
      nneg: random.int(bogus ? 12 : 5),
      nbad: bogus ? random.int(4) : 0,
      rb: round(bogus ? random.uniform(0.05, 0.5) : random.uniform(0.6, 1), 5),
      ssdistnr: asteroid ? round(random.uniform(0, 4), 4) : NO_SSO,
      ssmagnr: asteroid ? round(trueMag + 0.3 * random.normal(), 3) : NO_SSO,
      ssnamenr: object.ssnamenr,
      sumrat: round(bogus ? random.uniform(0.3, 0.9) : random.uniform(0.9, 1), 4),
      ranr: offsetPosition(object.position, object.hostOffset / 3600, 0).ra,
      decnr: object.position.dec,
      objectidps1: object.ps1.objectid,
      sgmag1: round(object.ps1.rMag + 0.5, 4),
      srmag1: round(object.ps1.rMag, 4),
      simag1: round(object.ps1.rMag - 0.2, 4),
      szmag1: round(object.ps1.rMag - 0.3, 4),
      sgscore1: round(object.ps1.sgscore, 5),
      distpsnr1: round(object.ps1.distance, 5),
      ndethist,
      ncovhist: asteroid || bogus ? 1 + random.int(400) : object.ncovhist + 1,
      jdstarthist: asteroid || bogus ? jd : object.jdstarthist ?? jd,
      jdendhist: jd,
      scorr: round(10 ** (0.4 * (MAG_RANGE.faint + 0.5 - magpsf)) * 5, 3),
      tooflag: 0,
      jdstartref: 2458150.5 + object.field % 30,
      jdendref: 2458350.5 + object.field % 30,
      nframesref: 15 + (object.field % 20),
      rbversion: RB_VERSION,
      magzpsci,
      magzpsciunc: round(random.uniform(1e-5, 5e-5), 7),
      neargaia: round(
        object.kind === "variable" ? random.uniform(0, 0.5) : random.uniform(1, 60),
        4,
      ),
      maggaia: round(
        object.kind === "variable" ? object.ps1.rMag - 0.1 : random.uniform(15, 21),
        4,
      ),
      exptime: 30,
      drb: round(bogus ? random.uniform(0, 0.4) : random.uniform(0.8, 1), 6),
      drbversion: DRB_VERSION,
    };
    if (!asteroid && !bogus) this.#remember(object, candidate);
    const stamp = `candid${candid}_pid${pid}_targ`;
    return {
      schemavsn: SIM_SCHEMA_VERSION,
      publisher: "Fink simulator",
      objectId: object.objectId,
      candid,
      candidate,
      prv_candidates: asteroid || bogus ? null : previous,
      cutoutScience: { fileName: `${stamp}_sci.fits.gz`, stampData: stamps.science },
      cutoutTemplate: { fileName: `${stamp}_ref.fits.gz`, stampData: stamps.template },
      cutoutDifference: { fileName: `${stamp}_diff.fits.gz`, stampData: stamps.difference },
    };
  }

  #candid(pid: bigint): bigint {
    const sequence = this.#detections++ % 1_000_000;
    return pid * 1_000_000n + BigInt(sequence);
  }

  #filter(): number {
    const u = this.#random.next();
    return u < 0.45 ? 1 : u < 0.95 ? 2 : 3;
  }

  #observedPosition(object: SimObject, jd: number): SkyPosition {
    const jitter = 0.08 / 3600;
    const days = jd - object.firstJd;
    return offsetPosition(
      object.position,
      object.motion.ra * days + jitter * this.#random.normal(),
      object.motion.dec * days + jitter * this.#random.normal(),
    );
  }

  #chooseObject(jd: number): SimObject {
    const reuse = this.#population.length > 50 && this.#random.next() > NEW_OBJECT_SHARE;
    if (reuse) return this.#random.pick(this.#population);
    const object = this.#newObject(jd);
    if (object.kind === "supernova" || object.kind === "variable") {
      if (this.#population.length < POPULATION) this.#population.push(object);
      else this.#population[this.#objects % POPULATION] = object;
    }
    return object;
  }

  #kind(): ObjectKind {
    let u = this.#random.next();
    for (const [kind, weight] of KIND_WEIGHTS) {
      if (u < weight) return kind;
      u -= weight;
    }
    return "variable";
  }

  #newObject(jd: number): SimObject {
    const random = this.#random;
    const onCatalog = this.#catalog.length > 0 && random.next() < this.#catalogFraction;
    const kind = onCatalog ? "variable" : this.#kind();
    const position = onCatalog ? random.pick(this.#catalog) : randomPosition(
      random,
      kind === "asteroid"
        ? "ecliptic"
        : kind === "variable" && random.next() < 0.5
        ? "galactic"
        : "uniform",
    );
    const index = (this.#objects++ * ID_STRIDE + this.#idOffset) % LETTERS;
    const yy = String(yearOf(jd) % 100).padStart(2, "0");
    const curve = makeLightCurve(kind, random, jd);
    const star = kind === "variable";
    const ps1Distance = star
      ? random.uniform(0.05, 0.6)
      : kind === "supernova" && curve.referenceMag !== null
      ? random.uniform(0.3, 3)
      : random.uniform(3, 30);
    const object: SimObject = {
      objectId: `FSIM${yy}${letters(index)}`,
      kind,
      position,
      firstJd: jd,
      curve,
      field: 250 + random.int(630),
      rcid: random.int(64),
      hostOffset: star ? random.uniform(0, 0.3) : random.uniform(0.2, 2.5),
      ps1: {
        objectid: ps1ObjectId(offsetPosition(position, ps1Distance / 3600, 0)),
        distance: ps1Distance,
        sgscore: star ? random.uniform(0.85, 1) : random.uniform(0, 0.4),
        rMag: curve.referenceMag ?? random.uniform(17, 22),
      },
      motion: kind === "asteroid"
        ? { ra: random.uniform(-0.5, 0.5), dec: random.uniform(-0.2, 0.2) }
        : { ra: 0, dec: 0 },
      ssnamenr: kind === "asteroid" ? this.#asteroidName(jd) : null,
      history: [],
      ndethist: 0,
      ncovhist: random.int(50),
      jdstarthist: null,
    };
    if (kind === "supernova") this.#backfill(object, jd, 30, 1 + random.int(12));
    if (kind === "variable") this.#backfill(object, jd, 400, 3 + random.int(18));
    return object;
  }

  #asteroidName(jd: number): string {
    const random = this.#random;
    if (random.next() < 0.7) return String(1 + random.int(650_000));
    const half = "ABCDEFGHJKLMNOPQRSTUVWXY"[random.int(24)];
    const letter = "ABCDEFGHJKLMNOPQRSTUVWXYZ"[random.int(25)];
    return `${yearOf(jd) - random.int(10)}${half}${letter}${random.int(200)}`;
  }

  /** Earlier epochs of a new object so its first alert already has a history. */
  #backfill(object: SimObject, jd: number, spanDays: number, epochs: number): void {
    const random = this.#random;
    const times = Array.from({ length: epochs }, () => jd - random.uniform(0.5, spanDays))
      .sort((a, b) => a - b);
    for (const t of times) {
      const fid = this.#filter();
      const diff = differenceMag(object.curve.magnitude(t, fid), object.curve.referenceMag);
      const limit = round(random.uniform(19.5, 20.9), 4);
      const pid = processingId(t, object.rcid);
      object.ncovhist++;
      if (diff.mag >= limit) {
        object.history.push(this.#upperLimit(object, t, fid, pid, limit));
        continue;
      }
      const sigmapsf = sigmaFor(diff.mag);
      object.history.push({
        ...this.#upperLimit(object, t, fid, pid, limit),
        candid: this.#candid(pid),
        isdiffpos: diff.positive ? "t" : "f",
        ra: object.position.ra,
        dec: object.position.dec,
        magpsf: round(diff.mag + sigmapsf * random.normal(), 5),
        sigmapsf: round(sigmapsf, 6),
        rb: round(random.uniform(0.6, 1), 5),
      });
      object.ndethist++;
      object.jdstarthist ??= t;
    }
  }

  #upperLimit(
    object: SimObject,
    jd: number,
    fid: number,
    pid: bigint,
    diffmaglim: number,
  ): SimPrvCandidate {
    const referenceMag = object.curve.referenceMag;
    return {
      jd,
      fid,
      pid,
      diffmaglim,
      programid: 1,
      candid: null,
      isdiffpos: null,
      nid: nightId(jd),
      field: object.field,
      ra: null,
      dec: null,
      magpsf: null,
      sigmapsf: null,
      magnr: referenceMag === null ? null : round(referenceMag, 4),
      sigmagnr: referenceMag === null ? null : round(sigmaFor(referenceMag), 4),
      distnr: round(object.hostOffset, 4),
      rb: null,
      ssdistnr: null,
      ssmagnr: null,
      ssnamenr: null,
      magzpsci: 26,
      rbversion: RB_VERSION,
    };
  }

  #remember(object: SimObject, candidate: SimCandidate): void {
    object.history.push({
      jd: candidate.jd,
      fid: candidate.fid,
      pid: candidate.pid,
      diffmaglim: candidate.diffmaglim,
      programid: candidate.programid,
      candid: candidate.candid,
      isdiffpos: candidate.isdiffpos,
      nid: candidate.nid,
      field: candidate.field,
      ra: candidate.ra,
      dec: candidate.dec,
      magpsf: candidate.magpsf,
      sigmapsf: candidate.sigmapsf,
      magnr: candidate.magnr,
      sigmagnr: candidate.sigmagnr,
      distnr: candidate.distnr,
      rb: candidate.rb,
      ssdistnr: null,
      ssmagnr: null,
      ssnamenr: null,
      magzpsci: candidate.magzpsci,
      rbversion: RB_VERSION,
    });
    if (object.history.length > MAX_HISTORY) object.history.shift();
    object.ndethist++;
    object.ncovhist++;
    object.jdstarthist ??= candidate.jd;
  }
}
