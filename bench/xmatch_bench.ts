/**
 * Cross-match throughput: loads the fink-science catalogs, times each index
 * build, then matches real alert positions (every ZTF and Rubin position in
 * `expected/alert-index`, repeated and jittered) against GCVS, SPICY and both.
 * Reference: astropy `match_to_catalog_sky` (k-d tree) does ~350,000 alerts/s
 * against GCVS on this machine. Run directly to print the result as JSON.
 */
import { join } from "node:path";
import { SHARED_DATA } from "../tests/shared_data.ts";
import { CatalogMatcher, type CatalogSpec, loadCatalog, readCsvTable } from "../core/xmatch/mod.ts";

/** Options for {@link runXmatchBench}. */
export interface XmatchBenchOptions {
  /** Number of query positions; default 1,000,000. */
  queries?: number;
  /** Maximum jitter added to each real position, in arcseconds; default 2. */
  jitterArcsec?: number;
  /** Seed of the jitter; default 1. */
  seed?: number;
  /** Shared data folder; default the one the tests use. */
  sharedData?: string;
}

/** Per-catalog figures. */
export interface CatalogBench {
  sources: number;
  loadMs: number;
  buildMs: number;
}

/** Throughput of one matching run. */
export interface MatchBench {
  alertsPerSecond: number;
  matched: number;
}

/** What {@link runXmatchBench} measures. */
export interface XmatchBenchResult {
  queries: number;
  realPositions: number;
  catalogs: Record<string, CatalogBench>;
  gcvs: MatchBench;
  spicy: MatchBench;
  gcvsAndSpicy: MatchBench;
  referenceAstropyAlertsPerSecond: number;
}

function specs(dir: string): CatalogSpec[] {
  const at = (f: string) => join(dir, "catalogs/fink-science", f);
  return [
    {
      name: "gcvs",
      path: at("gcvs.parquet"),
      ra: "ra",
      dec: "dec",
      column: "VarType",
      radiusArcsec: 1.5,
    },
    {
      name: "spicy",
      path: at("spicy.parquet"),
      ra: "RAdeg",
      dec: "DEdeg",
      column: "class",
      radiusArcsec: 1.2,
    },
    {
      name: "3hsp",
      path: at("3hsp.csv"),
      ra: "R.A.",
      dec: "Dec",
      label: "Blazar",
      id: "3HSP Source name",
      radiusArcsec: 60,
    },
    {
      name: "4lac",
      path: [at("table-4LAC-DR3-h.fits"), at("table-4LAC-DR3-l.fits")],
      ra: "RAJ2000",
      dec: "DEJ2000",
      column: "CLASS",
      id: "Source_Name",
      radiusArcsec: 60,
    },
    {
      name: "tns",
      path: at("tns_raw.parquet"),
      ra: "ra",
      dec: "declination",
      column: "type",
      radiusArcsec: 1.5,
      dropEmpty: true,
    },
  ];
}

async function realPositions(dir: string): Promise<[number[], number[]]> {
  const ra: number[] = [];
  const dec: number[] = [];
  const folder = join(dir, "expected/alert-index");
  for await (const entry of Deno.readDir(folder)) {
    const table = readCsvTable(await Deno.readTextFile(join(folder, entry.name)));
    const r = table.column("ra");
    const d = table.column("dec");
    for (let i = 0; i < table.numRows; i++) {
      const a = Number(r[i]);
      const b = Number(d[i]);
      if (Number.isFinite(a) && b >= -90 && b <= 90) {
        ra.push(a);
        dec.push(b);
      }
    }
  }
  return [ra, dec];
}

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

function time(matchers: CatalogMatcher[], ra: Float64Array, dec: Float64Array): MatchBench {
  const n = ra.length;
  let matched = 0;
  // A short warm-up so the timed loop runs optimised code.
  for (let i = 0; i < Math.min(n, 50_000); i++) {
    for (const m of matchers) m.match(ra[i], dec[i]);
  }
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < matchers.length; c++) {
      if (matchers[c].match(ra[i], dec[i]) >= 0) matched++;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return { alertsPerSecond: Math.round(n / seconds), matched };
}

/** Loads and indexes the catalogs, then times cross-matching; see {@link XmatchBenchResult}. */
export async function runXmatchBench(options: XmatchBenchOptions = {}): Promise<XmatchBenchResult> {
  const dir = options.sharedData ?? SHARED_DATA;
  const queries = options.queries ?? 1_000_000;
  const jitter = (options.jitterArcsec ?? 2) / 3600;
  const catalogs: Record<string, CatalogBench> = {};
  const matchers = new Map<string, CatalogMatcher>();
  for (const spec of specs(dir)) {
    const start = performance.now();
    const catalog = await loadCatalog(spec);
    const loadMs = performance.now() - start;
    const matcher = new CatalogMatcher(catalog);
    matchers.set(spec.name, matcher);
    catalogs[spec.name] = {
      sources: catalog.size,
      loadMs: Math.round(loadMs),
      buildMs: Math.round(matcher.buildMs * 10) / 10,
    };
  }
  const [realRa, realDec] = await realPositions(dir);
  const rnd = random(options.seed ?? 1);
  const ra = new Float64Array(queries);
  const dec = new Float64Array(queries);
  for (let i = 0; i < queries; i++) {
    const k = i % realRa.length;
    const d = Math.max(-90, Math.min(90, realDec[k] + (rnd() - 0.5) * 2 * jitter));
    const cos = Math.max(1e-6, Math.cos(d * Math.PI / 180));
    ra[i] = realRa[k] + (rnd() - 0.5) * 2 * jitter / cos;
    dec[i] = d;
  }
  const gcvs = matchers.get("gcvs")!;
  const spicy = matchers.get("spicy")!;
  return {
    queries,
    realPositions: realRa.length,
    catalogs,
    gcvs: time([gcvs], ra, dec),
    spicy: time([spicy], ra, dec),
    gcvsAndSpicy: time([gcvs, spicy], ra, dec),
    referenceAstropyAlertsPerSecond: 350_000,
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await runXmatchBench(), null, 2));
}
