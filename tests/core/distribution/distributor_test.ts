/**
 * The distribution over a real archive (50 real ZTF alerts with classify's
 * results): each filter publishes exactly the alerts a plain TypeScript
 * evaluation of its rule selects; a subscriber decoding as fink-client does
 * gets every field equal to the archive's; a bad filter is reported by name
 * while the others keep publishing; definitions are checked before use.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { LocalStorage } from "../../../core/storage/local.ts";
import {
  listArchivedFiles,
  parquetToTable,
  readCommittedOffsets,
} from "../../../core/archive/reader.ts";
import { ledgerPath } from "../../../core/archive/file_names.ts";
import { Distributor } from "../../../core/distribution/distributor.ts";
import { TransactionalPublisher } from "../../../core/distribution/publisher.ts";
import { FilterCounters } from "../../../core/distribution/status.ts";
import { DEFAULT_FILTERS } from "../../../core/distribution/default_filters.ts";
import { FilterEngine } from "../../../core/distribution/filter_engine.ts";
import { AlertEncoderPool } from "../../../core/distribution/encoder_pool.ts";
import { avroName } from "../../../core/distribution/avro_record.ts";
import { type FilterDefinition, FilterError } from "../../../core/distribution/sql_filter.ts";
import { ProgressStore } from "../../../core/plugins/progress.ts";
import type { TopicPartition } from "../../../core/source/topic_partition.ts";
import { archiveFixture, parquetFiles, plain } from "./archive_fixture.ts";
import { kcatCount, readTopic } from "./subscriber.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

type Row = Record<string, any>;

/** Archived alerts and the classify and anomaly rows, by candid. */
async function archivedRows(
  dir: string,
): Promise<{ alerts: Row[]; classify: Map<string, Row>; anomaly: Map<string, Row> }> {
  const alerts: Row[] = [];
  for await (const path of parquetFiles(join(dir, "archive"))) {
    const table = await parquetToTable(await Deno.readFile(path));
    for (const row of table) alerts.push(plain(row!.toJSON()));
  }
  return {
    alerts,
    classify: await scienceRows(dir, "classify"),
    anomaly: await scienceRows(dir, "anomaly"),
  };
}

async function scienceRows(dir: string, plugin: string): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  for await (const path of parquetFiles(join(dir, "science", plugin))) {
    const table = await parquetToTable(await Deno.readFile(path));
    for (const row of table) {
      const r = plain(row!.toJSON());
      rows.set(String(r.id), r);
    }
  }
  return rows;
}

const lt = (a: unknown, b: number) => typeof a === "number" && a < b;
const gt = (a: unknown, b: number) => typeof a === "number" && a > b;

/** The same rules, written in TypeScript. */
const RULES: Record<string, (a: Row, c: Row | undefined, n: Row | undefined) => boolean> = {
  catalog_match: (_a, c) =>
    c !== undefined &&
    ["gcvs_name", "spicy_name", "3hsp_name", "4lac_name", "tns_name"].some((k) => c[k] != null),
  anomalies: (_a, _c, n) => lt(n?.anomaly_score, -0.05),
  bright_transients: ({ candidate: x }) =>
    lt(x.magpsf, 18) && ["t", "1"].includes(x.isdiffpos) && typeof x.ndethist === "number" &&
    x.ndethist <= 2 && typeof x.rb === "number" && x.rb >= 0.5 &&
    (x.ssdistnr == null || lt(x.ssdistnr, 0) || gt(x.ssdistnr, 12)) &&
    (x.sgscore1 == null || lt(x.sgscore1, 0.5) || gt(x.distpsnr1, 1.5)),
  solar_bright: ({ candidate: x }, c) => c?.class === "Solar System candidate" && lt(x.magpsf, 17),
  bright_positive: ({ candidate: x }) => lt(x.magpsf, 16) && x.isdiffpos === "t",
  all: () => true,
};

const CUSTOM: FilterDefinition[] = [
  {
    name: "solar_bright",
    where: "classify.class = 'Solar System candidate' AND candidate.magpsf < 17",
    description: "",
  },
  {
    name: "bright_positive",
    where: "candidate.magpsf < 16 AND candidate.isdiffpos = 't'",
    description: "",
  },
  { name: "all", where: "true", description: "" },
  { name: "broken", where: "candidate.no_such_column > 1", description: "" },
];

Deno.test("distribution: filters select what their rule says, fink-client decodes every field, a bad filter is reported by name", async () => {
  const dir = await archiveFixture();
  const { alerts, classify, anomaly } = await archivedRows(dir);
  assert.equal(alerts.length, 50);
  assert.equal(anomaly.size, 50, "the anomaly plugin ran beside classify");
  const broker = await startBroker({ port: 0, dataDir: null });
  const publisher = await TransactionalPublisher.connect({
    brokers: [broker.address],
    transactionalId: "test-distribution",
    group: "test-distribution",
    progressTopic: "progress",
    partitions: 1,
  });
  const counters = new FilterCounters();
  const science = new LocalStorage(join(dir, "science"));
  const filters = [...DEFAULT_FILTERS, ...CUSTOM];
  const engine = await FilterEngine.open();
  const encoders = new AlertEncoderPool(2);
  try {
    const distributor = new Distributor({
      engine,
      encoders,
      archive: new LocalStorage(join(dir, "archive")),
      science,
      sink: publisher,
      filters: () => filters,
      counters,
      topicOf: (name) => `fink_${name}_ztf`,
      absent: { anomaly: "STRUCT(anomaly_score DOUBLE)" },
      scienceWaitMs: 0,
      scienceProgress: (plugin) => new ProgressStore(science).streamProgress(plugin),
      onPublished: () => {},
      log: () => {},
    });
    assert.equal(await distributor.round(), 50);
    assert.equal(await distributor.round(), 0, "a second round finds nothing new");

    const figures = counters.figures(filters.map((f) => ({ ...f, topic: "" })));
    const broken = figures.find((f) => f.name === "broken")!;
    assert.match(broken.error ?? "", /Filter broken failed on a batch: .*no_such_column/);
    let selective = 0;
    for (const [name, rule] of Object.entries(RULES)) {
      const expected = alerts
        .filter((a) => rule(a, classify.get(String(a.candid)), anomaly.get(String(a.candid))))
        .map((a) => String(a.candid)).sort();
      const figure = figures.find((f) => f.name === name)!;
      assert.equal(figure.error, null, `${name}: ${figure.error}`);
      assert.equal(figure.published, expected.length, `${name} published`);
      const records = await readTopic(broker.address, `fink_${name}_ztf`, expected.length);
      assert.deepEqual(records.map((r) => String(r.candid)).sort(), expected, name);
      if (expected.length > 0) {
        assert.equal(await kcatCount(broker.address, `fink_${name}_ztf`), expected.length);
      }
      if (expected.length > 0 && expected.length < alerts.length) selective++;
    }
    assert.ok(selective >= 2, `at least two filters select a strict subset, found ${selective}`);

    // Every field of every alert, as fink-client reads them, equals the archive's.
    const records = await readTopic(broker.address, "fink_all_ztf", 50);
    const byCandid = new Map(alerts.map((a) => [String(a.candid), a]));
    for (const record of records) {
      const archived = byCandid.get(String(record.candid))!;
      for (const [field, value] of Object.entries(archived)) {
        assert.deepEqual(
          normalise(record[field]),
          normalise(value),
          `field ${field} of ${record.candid}`,
        );
      }
      const science = classify.get(String(record.candid))!;
      for (const [field, value] of Object.entries(science)) {
        if (field === "id" || field === "event_hour") continue;
        assert.deepEqual(
          normalise(record.classify[avroName(field)]),
          normalise(value),
          `classify.${field}`,
        );
      }
      assert.deepEqual(
        normalise(record.anomaly.anomaly_score),
        normalise(anomaly.get(String(record.candid))!.anomaly_score),
        "anomaly.anomaly_score",
      );
    }
  } finally {
    encoders.close();
    await engine.close();
    await publisher.close();
    await broker.close();
  }
});

/**
 * A copy of the fixture's archive and a distributor over it publishing every alert
 * (filter `all`) to an embedded broker, with the progress of each transaction it published.
 */
async function distributorOverCopy(inPlace?: (tp: TopicPartition) => bigint | undefined) {
  const fixture = await archiveFixture();
  const dir = await Deno.makeTempDir({ prefix: "fink_distribution_snapshot_" });
  const copied = await new Deno.Command("cp", { args: ["-r", join(fixture, "archive"), dir] })
    .output();
  assert.ok(copied.success, new TextDecoder().decode(copied.stderr));
  const archive = new LocalStorage(join(dir, "archive"));
  const [committed] = await readCommittedOffsets(archive);
  const files = await listArchivedFiles(archive, committed.topic, {
    partition: committed.partition,
  });
  const broker = await startBroker({ port: 0, dataDir: null });
  const publisher = await TransactionalPublisher.connect({
    brokers: [broker.address],
    transactionalId: "test-snapshot",
    group: "test-snapshot",
    progressTopic: "progress",
    partitions: 1,
  });
  const published: bigint[] = [];
  const engine = await FilterEngine.open();
  const encoders = new AlertEncoderPool(1);
  const science = new LocalStorage(join(fixture, "science"));
  const distributor = new Distributor({
    engine,
    encoders,
    archive,
    science,
    sink: {
      progress: (topic, partition) => publisher.progress(topic, partition),
      lost: () => false,
      async publish(messages, progress) {
        published.push(progress.next);
        // A round that never ends publishes the same progress over and over.
        if (published.length > 200) throw new Error(`rounds kept coming: ${published.at(-3)}`);
        await publisher.publish(messages, progress);
      },
    },
    filters: () => [{ name: "all", where: "true", description: "" }],
    counters: new FilterCounters(),
    topicOf: (name) => `fink_${name}_ztf`,
    absent: {},
    scienceWaitMs: 0,
    scienceProgress: (plugin) => new ProgressStore(science).streamProgress(plugin),
    onPublished: () => {},
    inPlace,
    log: () => {},
  });
  return {
    dir,
    committed,
    files,
    distributor,
    published,
    broker,
    async [Symbol.asyncDispose]() {
      encoders.close();
      await engine.close();
      await publisher.close();
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a file that reaches past the committed offset a round read (merged meanwhile) is distributed up to that offset, the rest at the next round", async () => {
  await using run = await distributorOverCopy();
  const { dir, committed, files, distributor, published, broker } = run;
  // What a round sees when the archive commits and merges between its reading of the
  // committed offset and its listing: the ledger says `at`, a file holds rows past it.
  const straddled = files.find((f) => f.endOffset > f.startOffset)!;
  assert.ok(straddled !== undefined, "the fixture has a file of several offsets");
  const at = straddled.startOffset;
  const ledger = join(dir, "archive", ledgerPath(committed));
  const latest = [...Deno.readDirSync(ledger)].map((e) => e.name).sort().at(-1)!;
  const record = JSON.parse(await Deno.readTextFile(join(ledger, latest)));
  await Deno.writeTextFile(
    join(ledger, latest),
    JSON.stringify({ ...record, state: { ...record.state, committed: at.toString() } }),
  );
  const first = await distributor.round();
  assert.equal(published.at(-1), at + 1n, "the progress stops after the committed offset");
  await Deno.writeTextFile(join(ledger, latest), JSON.stringify(record));
  const rest = await distributor.round();
  assert.equal(first + rest, 50);
  const records = await readTopic(broker.address, "fink_all_ztf", 50);
  const offsets = records.map((r) => `${r.kafka_partition}/${r.kafka_offset}`);
  assert.equal(new Set(offsets).size, 50, "every alert published once");
  assert.equal(
    records.filter((r) => BigInt(r.kafka_offset) <= at).length,
    first,
    "the first round published the alerts up to the committed offset",
  );
});

Deno.test("a batch the ledger counts whose files this process's archive is still renaming is left to the next round", async () => {
  let inPlace: bigint | undefined;
  await using run = await distributorOverCopy(() => inPlace);
  const { dir, committed, files, distributor, published, broker } = run;
  // The last file is the archive's latest batch: recorded in the ledger, not renamed yet.
  const last = files.at(-1)!;
  inPlace = last.startOffset - 1n;
  const hidden = join(dir, "archive", `${last.path}.renaming`);
  await Deno.rename(join(dir, "archive", last.path), hidden);
  const first = await distributor.round();
  assert.equal(published.at(-1), last.startOffset, "the progress stops before the batch");
  await Deno.rename(hidden, join(dir, "archive", last.path));
  inPlace = committed.offset;
  const rest = await distributor.round();
  assert.equal(first + rest, 50);
  const records = await readTopic(broker.address, "fink_all_ztf", 50);
  const offsets = records.map((r) => `${r.kafka_partition}/${r.kafka_offset}`);
  assert.equal(new Set(offsets).size, 50, "every alert published once");
});

Deno.test("a filter definition is checked: unknown columns, other types, several statements and file access are refused with the reason", async () => {
  const dir = await archiveFixture();
  const engine = await FilterEngine.open();
  const batch = {
    parquet: { bytes: await Deno.readFile(join(dir, "archive", await firstArchived(dir))) },
    results: [],
    absent: { anomaly: "STRUCT(anomaly_score DOUBLE)" },
    fromOffset: 0n,
    toOffset: 0n,
  };
  const check = (where: string) => engine.check({ name: "f", where, description: "" }, batch);
  try {
    await check("candidate.magpsf < 17 AND anomaly.anomaly_score < 0");
    await assert.rejects(
      check("candidate.nope > 1"),
      (e) => e instanceof FilterError && /Filter f is refused: .*nope/.test(e.message),
    );
    await assert.rejects(check("candidate.magpsf"), /gives FLOAT, expected BOOLEAN/);
    await assert.rejects(
      check("true) AS v FROM alerts; DROP TABLE alerts; SELECT (true"),
      /Filter f is refused/,
    );
    await assert.rejects(check("true), (1"), /Filter f is refused: .*one expression/);
    await assert.rejects(
      check("(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"),
      /Filter f is refused: .*(disabled|Permission)/,
    );
  } finally {
    await engine.close();
  }
});

async function firstArchived(dir: string): Promise<string> {
  for await (const path of parquetFiles(join(dir, "archive"))) {
    return path.slice(join(dir, "archive").length + 1);
  }
  throw new Error("empty archive");
}

/** Values as compared: bigints and numbers alike, bytes as arrays. */
function normalise(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value ?? null;
}
