/**
 * The process as a user runs it: `deno run -A main.ts start|stop|status` in
 * child processes, each run isolated in its own temporary folder. Covers the
 * life cycle (one process, later commands act on it through the API) and
 * checks that the figures of `/api/status` and `/api/metrics` after a
 * simulator run equal what DuckDB reads from the Parquet files on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { archiveFiles } from "../support/duckdb.ts";
import { readProcessState } from "../../core/process/state_file.ts";
import { sharedData } from "../shared_data.ts";
import { fink, type FinkProcess, getJson, startFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const REAL_ALERTS = sharedData("ztf/alerts/fink-broker-all-distribute-20231018");
const TOPIC = "ztf-sim";

function serviceStates(
  doc: { services: { name: string; state: string }[] },
): Record<string, string> {
  return Object.fromEntries(doc.services.map((s) => [s.name, s.state]));
}

/** Waits until every named service reports the wanted state in `/api/status`. */
function servicesIn(
  fp: FinkProcess,
  wanted: Record<string, string>,
): Promise<Record<string, string>> {
  return waitFor(`services ${JSON.stringify(wanted)}`, async () => {
    const states = serviceStates(await getJson(`${fp.state.url}/api/status`));
    return Object.entries(wanted).every(([name, state]) => states[name] === state)
      ? states
      : undefined;
  });
}

Deno.test({
  name: "CLI life cycle: one process, later commands act on it, stop ends it with exit 0",
  async fn() {
    const fp = await startFink({
      "simulator.observations": 2,
      "simulator.alerts_per_observation": 20,
    });
    try {
      const pid = fp.child.pid;
      await servicesIn(fp, {
        ui: "running",
        simulator: "running",
        archive: "running",
        distribute: "running",
        classify: "running",
        anomaly: "running",
        rising: "running",
      });

      const text = await fink(["status"], fp.env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        new RegExp(`^Fink \\S+ pid ${pid}, up \\d+ s, API ${fp.state.url}/api/status$`, "m"),
      );
      for (
        const [name, kind] of [
          ["ui", "builtin"],
          ["simulator", "builtin"],
          ["archive", "builtin"],
          ["classify", "plugin"],
          ["anomaly", "plugin"],
        ]
      ) {
        assert.match(text.stdout, new RegExp(`^  ${name} +${kind} +running$`, "m"));
      }

      const json = await fink(["status", "--json"], fp.env);
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.running, true);
      assert.equal(doc.process.pid, pid);
      assert.deepEqual(
        serviceStates(doc),
        // distribute starts with `archive --simulator` (built-in filters, the embedded broker).
        {
          ui: "running",
          simulator: "running",
          archive: "running",
          distribute: "running",
          classify: "running",
          anomaly: "running",
          rising: "running",
        },
      );

      const second = await fink(["start", "simulator"], fp.env);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stdout.trim(), `simulator started in the running process (pid ${pid})`);

      // classify was started by the plugin host, not by a command: stopping it must still work.
      const stopped = await fink(["stop", "classify"], fp.env);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(stopped.stdout.trim(), "classify stopped");
      const afterStop = JSON.parse((await fink(["status", "--json"], fp.env)).stdout);
      assert.equal(serviceStates(afterStop).classify, "stopped");
      assert.equal(serviceStates(afterStop).archive, "running");

      for (let i = 0; i < 2; i++) {
        const started = await fink(["start", "classify"], fp.env);
        assert.equal(started.code, 0, started.stderr);
        assert.equal(started.stdout.trim(), `classify started in the running process (pid ${pid})`);
        await servicesIn(fp, { classify: "running" });
      }
      assert.equal((await readProcessState(fp.env.FINK_PROCESS_STATE_DIR))?.pid, pid);
      assert.equal((await getJson(`${fp.state.url}/api/status`)).process.pid, pid);

      const ui = await fink(["stop", "ui"], fp.env);
      assert.equal(ui.code, 1);
      assert.equal(
        ui.stderr.trim(),
        "error: stop ui failed: ui runs as long as the process; `deno task stop` stops the process",
      );
      const unknown = await fink(["stop", "nosuch"], fp.env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /^error: stop nosuch failed: Unknown service "nosuch"/m);
      const listed = unknown.stderr.match(/^services: (.*)$/m)?.[1].split(", ").sort();
      assert.deepEqual(listed, [
        "anomaly",
        "archive",
        "classify",
        "distribute",
        "rising",
        "simulator",
        "ui",
      ]);
      await servicesIn(fp, { ui: "running", archive: "running" });

      const all = await fink(["stop"], fp.env);
      assert.equal(all.code, 0, all.stderr);
      assert.equal(all.stdout.trim(), `Fink process ${pid} stopped`);
      assert.equal((await fp.child.status).code, 0, fp.log());
      assert.equal(await readProcessState(fp.env.FINK_PROCESS_STATE_DIR), null);
      const none = await fink(["status"], fp.env);
      assert.match(none.stdout, /^No Fink process is running/);
    } finally {
      await fp.close();
    }
  },
});

/** Alerts on disk per partition, read by DuckDB from the archive's Parquet files. */
async function rowsOnDisk(archiveRoot: string): Promise<Map<number, number>> {
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT regexp_extract(filename, '\\+(\\d+)\\+\\d+\\+\\d+\\.parquet$', 1)::INTEGER AS p,
              count(*)::INTEGER AS n
         FROM read_parquet(${await archiveFiles(
        `${join(archiveRoot, TOPIC)}/*/*/*/*/*.parquet`,
      )}, filename = true)
        GROUP BY p ORDER BY p`,
    );
    const rows = reader.getRowObjectsJS() as { p: number; n: number }[];
    return new Map(rows.map((r) => [r.p, r.n]));
  } finally {
    connection.closeSync();
    db.closeSync();
  }
}

/** The Parquet files under a folder: how many, and their bytes. */
async function parquetFiles(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      const sub = await parquetFiles(path);
      files += sub.files;
      bytes += sub.bytes;
    } else if (entry.name.endsWith(".parquet")) {
      files++;
      bytes += (await Deno.stat(path)).size;
    }
  }
  return { files, bytes };
}

/** Prometheus samples of one family: label text → value. */
function samples(text: string, family: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = line.match(new RegExp(`^${family}(\\{[^}]*\\})? (\\S+)$`));
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

/**
 * Runs the simulator to the end, waits until the archive caught up, then
 * compares the API's figures with the files on disk.
 */
async function checkFiguresAgainstDisk(settings: Record<string, string | number>, sent: number) {
  const fp = await startFink(settings);
  try {
    const status = await waitFor(`${sent} alerts archived`, async () => {
      const doc = await getJson(`${fp.state.url}/api/status`);
      const replay = doc.services.find((s: { name: string }) => s.name === "simulator")?.details
        ?.replay;
      // The lag is refreshed once a second, so it reaches 0 a moment after the last commit.
      const settled = doc.totals.archived === sent && doc.totals.inFlight === 0 &&
        doc.lag.total === 0;
      return replay?.finished && settled ? doc : undefined;
    }, { timeoutMs: 60_000 }).catch((e) => {
      throw new Error(`${e.message}\n${fp.log().slice(-3000)}`);
    });
    const replay = status.services.find((s: { name: string }) =>
      s.name === "simulator"
    ).details.replay;
    assert.equal(replay.sent, sent);

    const archiveRoot = fp.env.FINK_ARCHIVE_ROOT;
    const perPartition = await rowsOnDisk(archiveRoot);
    const onDisk = await parquetFiles(archiveRoot);
    const rows = [...perPartition.values()].reduce((a, b) => a + b, 0);
    assert.equal(rows, sent);
    assert.deepEqual(
      { ...status.totals },
      {
        received: sent,
        decoded: sent,
        archived: rows,
        quarantined: 0,
        inFlight: 0,
        buffered: 0,
        files: onDisk.files,
        bytes: onDisk.bytes,
      },
    );
    const apiPartitions = new Map<number, number>(
      status.partitions
        .filter((p: { topic: string }) => p.topic === TOPIC)
        .map((p: { partition: number; archived: number }) => [p.partition, p.archived]),
    );
    for (const [partition, n] of apiPartitions) {
      if (n === 0) apiPartitions.delete(partition);
    }
    assert.deepEqual(apiPartitions, perPartition);
    assert.equal(status.storage.filesWritten, onDisk.files);
    assert.equal(status.storage.bytesWritten, onDisk.bytes);

    const res = await fetch(`${fp.state.url}/api/metrics`);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const metrics = await res.text();
    const archived = samples(metrics, "fink_alerts_archived_total");
    const fromMetrics = new Map<number, number>();
    for (const [labels, value] of archived) {
      const m = labels.match(/^\{topic="([^"]+)",partition="(\d+)"\}$/);
      assert.ok(m, `labels ${labels}`);
      if (m[1] === TOPIC && value > 0) fromMetrics.set(Number(m[2]), value);
    }
    assert.deepEqual(fromMetrics, perPartition);
    const received = [...samples(metrics, "fink_alerts_received_total").values()];
    assert.equal(received.reduce((a, b) => a + b, 0), sent);
    assert.equal(samples(metrics, "fink_archive_files_total").get(""), onDisk.files);
    assert.equal(samples(metrics, "fink_archive_bytes_total").get(""), onDisk.bytes);
    assert.equal(samples(metrics, "fink_alerts_buffered").get(""), 0);
    assert.equal(samples(metrics, "fink_alerts_in_flight").get(""), 0);
    assert.equal(samples(metrics, "fink_storage_failing").get(""), 0);
  } finally {
    await fp.close();
  }
}

Deno.test({
  name:
    "after a synthetic run of 3 × 50 alerts, /api/status and /api/metrics equal the Parquet on disk",
  async fn() {
    await checkFiguresAgainstDisk(
      { "simulator.observations": 3, "simulator.alerts_per_observation": 50 },
      150,
    );
  },
});

Deno.test({
  name:
    "after replaying 139 real ZTF alerts once, /api/status and /api/metrics equal the Parquet on disk",
  async fn() {
    let files = 0;
    for await (const entry of Deno.readDir(REAL_ALERTS)) if (entry.name.endsWith(".avro")) files++;
    // One alert per file in this folder (see the shared data README).
    assert.equal(files, 139);
    await checkFiguresAgainstDisk({ "simulator.source": REAL_ALERTS }, files);
  },
});

Deno.test({
  name: "a second Ctrl-C while the process stops is ignored: it still stops cleanly, exit 0",
  async fn() {
    // Under `deno task`, Ctrl-C reaches the process twice: from the terminal and forwarded.
    const fp = await startFink({ "simulator.observations": 1 });
    try {
      fp.child.kill("SIGINT");
      await waitFor("the process to begin stopping", () => fp.log().includes("msg=stopping"));
      fp.child.kill("SIGINT");
      const status = await fp.child.status;
      assert.equal(status.code, 0, fp.log().slice(-5000));
      assert.match(fp.log(), /already stopping; send SIGKILL/);
      assert.match(fp.log(), /msg="process stopped"/);
    } finally {
      await fp.close();
    }
  },
});
