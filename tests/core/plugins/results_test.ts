import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { basename, dirname, join } from "node:path";
import { createParquetSink, resultFilePath } from "../../../core/plugins/results.ts";
import { LocalStorage } from "../../../core/storage/local.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { legacyParquetName, parquetName } from "../../../core/archive/file_names.ts";
import { eventHour, readZtfAlerts } from "../../fixtures/plugins/ztf_batch.ts";
import { sharedData } from "../../shared_data.ts";

// Two nights of real alerts, so one batch spans several event hours.
const alerts = [
  ...(await readZtfAlerts(undefined, 5)),
  ...(await readZtfAlerts(sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018"), 40)),
];
/** The result file name of the batch at offsets 1000..1044 (padded, see file_names.ts). */
const NAME_1000 = parquetName({ topic: "ztf_2023", partition: 3 }, 1000n, 1044n);
const OUTPUTS = { cls: "string", score: "float64", n: "int32", big: "int64", ok: "bool" } as const;

function rowsOf() {
  return alerts.map((a, i) => ({
    id: a.candid,
    cls: i % 3 === 0 ? null : a.objectId,
    score: a.candidate.magpsf,
    n: a.candidate.fid,
    big: BigInt(i),
    ok: i % 2 === 0,
  }));
}

function meta(startOffset: number) {
  return {
    topic: "ztf_2023",
    partition: 3,
    startOffset,
    endOffset: startOffset + alerts.length - 1,
    outputs: OUTPUTS,
    eventHours: alerts.map(eventHour),
  };
}

/** Local storage at `root` that records the calls it gets. */
function recording(root: string, calls: string[]): Storage {
  const disk = new LocalStorage(root);
  return new Proxy(disk, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)} ${args.filter((a) => typeof a === "string").join(" ")}`);
        return value.apply(target, args);
      };
    },
  });
}

async function walk(dir: string, files: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) await walk(join(dir, entry.name), files);
    else files.push(entry.name);
  }
}

Deno.test("rows are written per event hour through a temporary name, typed as declared", async () => {
  const science = await Deno.makeTempDir();
  try {
    const calls: string[] = [];
    const sink = createParquetSink({ storage: recording(science, calls) });
    const rows = rowsOf();
    await sink.write("xm", rows, meta(1000));
    const hours = [...new Set(alerts.map(eventHour))];
    assert.ok(hours.length > 2);
    assert.equal(calls.filter((c) => c.startsWith("rename")).length, hours.length);
    for (const call of calls.filter((c) => c.startsWith("writeFile"))) {
      assert.ok(call.includes(`/${NAME_1000}.`), call);
      assert.match(call, /\.parquet\.[0-9a-f]{8}\.tmp$/);
    }

    let total = 0;
    for (const hour of hours) {
      const path = resultFilePath(science, "xm", { ...meta(1000), eventHour: hour });
      const table = arrow.tableFromIPC(pq.readParquet(await Deno.readFile(path)).intoIPCStream());
      assert.deepEqual(
        table.schema.fields.map((f) => `${f.name}:${f.type}`),
        [
          "id:Int64",
          "cls:Utf8",
          "score:Float64",
          "n:Int32",
          "big:Int64",
          "ok:Bool",
          "event_hour:Timestamp<MILLISECOND, UTC>",
        ],
      );
      const expected = rows.filter((_, i) => eventHour(alerts[i]) === hour);
      assert.deepEqual(
        table.toArray().map((r) => r.toJSON()),
        expected.map((row) => ({
          ...row,
          score: Math.fround(row.score),
          event_hour: hour * 3_600_000,
        })),
      );
      total += table.numRows;
    }
    assert.equal(total, alerts.length);
    const path = resultFilePath(science, "xm", { ...meta(1000), eventHour: eventHour(alerts[10]) });
    assert.match(path, /\/xm\/2023\/10\/1[89]\/\d\d\//);
    assert.ok(path.endsWith(`/${NAME_1000}`), path);
  } finally {
    await Deno.remove(science, { recursive: true });
  }
});

Deno.test("writing the same batch again replaces its files and leaves no temporary file", async () => {
  const science = await Deno.makeTempDir();
  try {
    const sink = createParquetSink({ scienceRoot: science });
    await sink.write("xm", rowsOf(), meta(0));
    // The replay covers the same offsets; only the first hour's rows are replayed here.
    await sink.write("xm", rowsOf().slice(0, 5), {
      ...meta(0),
      eventHours: meta(0).eventHours.slice(0, 5),
    });
    const files: string[] = [];
    await walk(science, files);
    const name = parquetName({ topic: "ztf_2023", partition: 3 }, 0n, 44n);
    assert.ok(files.every((file) => file === name), files.join());
    const first = resultFilePath(science, "xm", { ...meta(0), eventHour: eventHour(alerts[0]) });
    const table = arrow.tableFromIPC(pq.readParquet(await Deno.readFile(first)).intoIPCStream());
    assert.equal(table.numRows, 5);
  } finally {
    await Deno.remove(science, { recursive: true });
  }
});

Deno.test("bad batch metadata is refused with a clear message", async () => {
  const sink = createParquetSink({ scienceRoot: "/nonexistent" });
  await assert.rejects(
    sink.write("xm", rowsOf(), { ...meta(0), eventHours: [1] }),
    /Expected one event hour per row, found 1 for 45 rows/,
  );
  await assert.rejects(
    sink.write("xm", rowsOf(), { ...meta(0), topic: "../../etc" }),
    /Topic must be a Kafka topic name/,
  );
});

Deno.test("a replay replaces the result file an earlier version named without padding", async () => {
  const science = await Deno.makeTempDir();
  try {
    const sink = createParquetSink({ scienceRoot: science });
    const hour = eventHour(alerts[0]);
    const padded = resultFilePath(science, "xm", { ...meta(0), eventHour: hour });
    const legacy = join(dirname(padded), legacyParquetName(meta(0), 0n, 44n));
    await Deno.mkdir(dirname(padded), { recursive: true });
    await Deno.writeFile(legacy, new Uint8Array([1]));
    const other = join(dirname(padded), legacyParquetName(meta(0), 45n, 60n));
    await Deno.writeFile(other, new Uint8Array([1]));
    await sink.write("xm", rowsOf().slice(0, 5), {
      ...meta(0),
      eventHours: meta(0).eventHours.slice(0, 5),
    });
    const names = [...Deno.readDirSync(dirname(padded))].map((e) => e.name).sort();
    assert.deepEqual(names, [basename(padded), basename(other)].sort());
  } finally {
    await Deno.remove(science, { recursive: true });
  }
});

Deno.test("results go into hour folders of the archive's layout", async () => {
  const science = await Deno.makeTempDir();
  try {
    const sink = createParquetSink({ scienceRoot: science, layout: "hive" });
    await sink.write("xm", rowsOf(), meta(0));
    const files: string[] = [];
    await walkPaths(science, files);
    assert.ok(files.length > 2);
    for (const file of files) {
      assert.match(file, /\/xm\/year=\d{4}\/month=\d\d\/day=\d\d\/hour=\d\d\/[^/]+\.parquet$/);
    }
  } finally {
    await Deno.remove(science, { recursive: true });
  }
});

async function walkPaths(dir: string, files: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) await walkPaths(join(dir, entry.name), files);
    else files.push(join(dir, entry.name));
  }
}
