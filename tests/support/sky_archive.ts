/**
 * Archives of synthetic ZTF-like alerts spread over the sky (light rows: ids,
 * position, time, photometry; no cutouts), written through the archive's own
 * batch writer and ledger, with the HEALPix column the encoder adds. For cone
 * tests (poles, RA 0/360) and the query benchmark. Also archives of real
 * alerts, cycled to any size (the distribution's crash test and benchmark).
 */
import * as arrow from "apache-arrow";
import { Ledger, type PartitionLedger } from "../../core/archive/ledger.ts";
import { writeBatch } from "../../core/archive/batch_writer.ts";
import { hourPath } from "../../core/archive/partitioner.ts";
import { writeParquet } from "../../core/archive/parquet_writer.ts";
import { withSkyPixel } from "../../core/archive/sky_pixel.ts";
import { LocalStorage } from "../../core/storage/mod.ts";
import { encodeBatch } from "../../core/archive/encoder.ts";
import { listAlertFiles } from "../../core/source/files.ts";

/** One synthetic alert. */
export interface SkyAlert {
  objectId: string;
  candid: bigint;
  ra: number;
  dec: number;
  jd: number;
}

/** Options of {@link writeSkyArchive}. */
export interface SkyArchiveOptions {
  topic?: string;
  /** Alerts per file (one batch each). */
  perFile?: number;
  /** The partition's ledger session to commit with (default: a new one, taken over now). */
  ledger?: PartitionLedger;
}

const JD_UNIX_EPOCH = 2440587.5;

/** `count` alerts of `count / perObject` objects at uniform random sky positions, seeded. */
export function skyAlerts(count: number, options: { seed?: number; perObject?: number } = {}) {
  let state = options.seed ?? 1;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const perObject = options.perObject ?? 4;
  const alerts: SkyAlert[] = [];
  const start = Date.UTC(2024, 0, 1) / 86_400_000 + JD_UNIX_EPOCH;
  for (let o = 0; alerts.length < count; o++) {
    const ra = random() * 360;
    const dec = (Math.asin(2 * random() - 1) * 180) / Math.PI;
    for (let k = 0; k < perObject && alerts.length < count; k++) {
      alerts.push({
        objectId: `ZTF24sky${o.toString(36).padStart(6, "0")}`,
        candid: BigInt(1_000_000_000 + alerts.length),
        ra: (ra + (random() - 0.5) * 1e-4 + 360) % 360,
        dec: Math.max(-90, Math.min(90, dec + (random() - 0.5) * 1e-4)),
        jd: start + alerts.length / 50_000 + k * 1e-3,
      });
    }
  }
  return alerts;
}

/** Writes the alerts, in order, as committed batches of a topic's partition 0 under `root`. */
export async function writeSkyArchive(
  root: string,
  alerts: SkyAlert[],
  options: SkyArchiveOptions = {},
): Promise<void> {
  const storage = new LocalStorage(root);
  const topic = options.topic ?? "sky";
  const tp = { topic, partition: 0 };
  const ledger = options.ledger ?? await new Ledger(storage).acquire(tp);
  const perFile = options.perFile ?? 10_000;
  let offset = ledger.committed + 1n;
  for (let i = 0; i < alerts.length; i += perFile) {
    const part = alerts.slice(i, i + perFile);
    const table = withSkyPixel(tableOf(part));
    const hour = Math.floor(((part[0].jd - JD_UNIX_EPOCH) * 86_400_000) / 3_600_000);
    const start = offset;
    const end = offset + BigInt(part.length - 1);
    offset = end + 1n;
    const bytes = writeParquet(table, { avroSchema: "", schemaKey: "sky" });
    await writeBatch({
      tp,
      start,
      end,
      files: [{
        hour: hourPath(hour),
        startOffset: start,
        endOffset: end,
        rows: part.length,
        bytes,
      }],
      quarantined: [],
    }, { storage, ledger });
  }
}

function tableOf(alerts: SkyAlert[]): arrow.Table {
  const candidate = new arrow.Struct([
    new arrow.Field("jd", new arrow.Float64()),
    new arrow.Field("fid", new arrow.Int32()),
    new arrow.Field("ra", new arrow.Float64()),
    new arrow.Field("dec", new arrow.Float64()),
    new arrow.Field("magpsf", new arrow.Float32()),
    new arrow.Field("sigmapsf", new arrow.Float32()),
    new arrow.Field("diffmaglim", new arrow.Float32()),
    new arrow.Field("isdiffpos", new arrow.Utf8()),
    new arrow.Field("magnr", new arrow.Float32()),
    new arrow.Field("sigmagnr", new arrow.Float32()),
  ]);
  return new arrow.Table({
    objectId: arrow.vectorFromArray(alerts.map((a) => a.objectId), new arrow.Utf8()),
    candid: arrow.vectorFromArray(alerts.map((a) => a.candid), new arrow.Int64()),
    candidate: arrow.vectorFromArray(
      alerts.map((a, i) => ({
        jd: a.jd,
        fid: 1 + (i % 2),
        ra: a.ra,
        dec: a.dec,
        magpsf: 18 + (i % 7) * 0.1,
        sigmapsf: 0.05,
        diffmaglim: 20.5,
        isdiffpos: "t",
        magnr: 21,
        sigmagnr: 0.1,
      })),
      candidate,
    ),
  });
}

/** Options of {@link archiveAlertFolder}. */
export interface AlertFolderOptions {
  /** Alerts per committed batch. Default 20. */
  perBatch?: number;
  /** Alerts archived, the folder's cycled (offset `i` is its alert `i % n`). Default the folder's. */
  alerts?: number;
}

/** Archives a folder of real alerts as committed batches (several files). */
export async function archiveAlertFolder(
  root: string,
  topic: string,
  folder: string,
  options: AlertFolderOptions = {},
): Promise<void> {
  const storage = new LocalStorage(root);
  const tp = { topic, partition: 0 };
  const ledger = await new Ledger(storage).acquire(tp);
  const values = await Promise.all((await listAlertFiles(folder)).map((f) => Deno.readFile(f)));
  const alerts = options.alerts ?? values.length;
  const perBatch = options.perBatch ?? 20;
  for (let i = 0; i < alerts; i += perBatch) {
    const part = Array.from({ length: Math.min(perBatch, alerts - i) }, (_, k) => ({
      ...tp,
      offset: BigInt(i + k),
      timestamp: 1_700_000_000_000,
      value: values[(i + k) % values.length],
    }));
    const encoded = await encodeBatch(part, { decoder: { mode: "auto" } });
    await writeBatch({
      tp,
      start: part[0].offset,
      end: part[part.length - 1].offset,
      files: encoded.files,
      quarantined: encoded.quarantined,
    }, { storage, ledger });
  }
}
