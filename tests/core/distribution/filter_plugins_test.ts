/**
 * Filter plugins (`kind: "filter"`) in the distribution, over the 139 real
 * ZTF alerts Fink distributed in 2023 with classify's results: the shipped
 * `rising` plugin, run in its sandboxed process by the plugin bus, publishes
 * exactly the alerts a plain TypeScript evaluation of its rule selects; a
 * filter plugin that throws is reported by name, its alerts do not pass, and
 * the other filters keep publishing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { loadConfig } from "../../../core/config/mod.ts";
import { parquetToTable } from "../../../core/archive/reader.ts";
import { LocalStorage } from "../../../core/storage/local.ts";
import { startPluginBus } from "../../../core/plugins/bus.ts";
import { ProgressStore } from "../../../core/plugins/progress.ts";
import { Distributor } from "../../../core/distribution/distributor.ts";
import { AlertEncoderPool } from "../../../core/distribution/encoder_pool.ts";
import { FilterEngine } from "../../../core/distribution/filter_engine.ts";
import { pluginFilters } from "../../../core/distribution/plugin_filter_host.ts";
import { TransactionalPublisher } from "../../../core/distribution/publisher.ts";
import { declaredScience } from "../../../core/distribution/service.ts";
import { FilterCounters } from "../../../core/distribution/status.ts";
import { ROOT } from "../../support/fink_process.ts";
import { waitFor } from "../../support/wait.ts";
import { archiveFixture, DISTRIBUTED_ALERTS, parquetFiles, plain } from "./archive_fixture.ts";
import { readTopic } from "./subscriber.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

type Row = Record<string, any>;

const CORE = new URL("../../../core/", import.meta.url).href;

const THROWING = `import { definePlugin } from "${CORE}plugins/define.ts";
export default definePlugin({
  name: "throwing",
  kind: "filter",
  description: "Throws on every alert",
  columns: ["candid"],
  process() {
    throw new Error("no catalogue loaded");
  },
});
`;

/** Every archived alert as plain JS, and classify's rows by candid. */
async function archived(dir: string): Promise<{ alerts: Row[]; classify: Map<string, Row> }> {
  const alerts: Row[] = [];
  for await (const path of parquetFiles(join(dir, "archive"))) {
    for (const row of await parquetToTable(await Deno.readFile(path))) alerts.push(plain(row));
  }
  const classify = new Map<string, Row>();
  for await (const path of parquetFiles(join(dir, "science", "classify"))) {
    for (const row of await parquetToTable(await Deno.readFile(path))) {
      classify.set(String(row!.id), plain(row));
    }
  }
  return { alerts, classify };
}

/** The rising rule, written again in plain TypeScript. */
function rises(alert: Row, classify: Row | undefined): boolean {
  const now = alert.candidate;
  if (!["t", "1"].includes(now.isdiffpos) || !(now.rb >= 0.55) || now.magpsf == null) return false;
  if (String(classify?.class ?? "").startsWith("Solar System")) return false;
  const earlier = (alert.prv_candidates ?? []).filter((d: Row | null) =>
    d !== null && d.fid === now.fid && d.magpsf != null && d.jd < now.jd && d.jd >= now.jd - 10
  ).sort((a: Row, b: Row) => b.jd - a.jd);
  return earlier.length > 0 && earlier[0].magpsf - now.magpsf >= 0.5;
}

Deno.test("filter plugins: rising publishes what its rule selects, a throwing one is reported by name and the others publish", async () => {
  const dir = await archiveFixture(DISTRIBUTED_ALERTS);
  const { alerts, classify } = await archived(dir);
  const expected = alerts.filter((a) => rises(a, classify.get(String(a.candid))))
    .map((a) => String(a.candid)).sort();
  assert.ok(expected.length > 0 && expected.length < alerts.length, `${expected.length} rising`);

  const work = await Deno.makeTempDir({ prefix: "fink_filter_plugins_" });
  const plugins = join(work, "plugins");
  await Deno.mkdir(plugins);
  const rising = await Deno.readTextFile(join(ROOT, "plugins", "rising.ts"));
  await Deno.writeTextFile(join(plugins, "rising.ts"), rising.replaceAll('"../core/', `"${CORE}`));
  await Deno.writeTextFile(join(plugins, "throwing.ts"), THROWING);
  const config = await loadConfig({
    file: null,
    env: {},
    sets: [
      `archive.root=${join(dir, "archive")}`,
      `science.root=${join(dir, "science")}`,
      `process.state_dir=${join(work, "state")}`,
      `plugins.dir=${plugins}`,
    ],
  });
  const bus = await startPluginBus(config);
  const broker = await startBroker({ port: 0, dataDir: null });
  const publisher = await TransactionalPublisher.connect({
    brokers: [broker.address],
    transactionalId: "test-filter-plugins",
    group: "test-filter-plugins",
    progressTopic: "progress",
    partitions: 1,
  });
  const engine = await FilterEngine.open();
  const encoders = new AlertEncoderPool(2);
  const counters = new FilterCounters();
  const science = new LocalStorage(join(dir, "science"));
  try {
    await waitFor(
      "both filter plugins running",
      () =>
        bus.host.list().filter((p) => p.kind === "filter" && p.state === "running").length === 2,
    );
    const distributor = new Distributor({
      archive: new LocalStorage(join(dir, "archive")),
      science,
      sink: publisher,
      engine,
      encoders,
      filters: () => [{ name: "all", where: "true", description: "" }],
      pluginFilters: pluginFilters(bus, 120_000),
      counters,
      topicOf: (name) => `fink_${name}_ztf`,
      absent: declaredScience(config.list("distribution.science_columns")),
      scienceWaitMs: 0,
      scienceProgress: (plugin) => new ProgressStore(science).streamProgress(plugin),
      onPublished: () => {},
      log: () => {},
    });
    assert.equal(await distributor.round(), alerts.length);

    const figures = counters.figures(
      ["all", "rising", "throwing"].map((name) => ({ name, where: "", topic: "" })),
    );
    const [all, risingFigure, throwing] = figures;
    assert.equal(all.published, alerts.length, "the SQL filter kept publishing");
    assert.equal(risingFigure.error, null);
    assert.equal(risingFigure.in, alerts.length);
    assert.equal(risingFigure.published, expected.length);
    const records = await readTopic(broker.address, "fink_rising_ztf", expected.length);
    assert.deepEqual(records.map((r) => String(r.candid)).sort(), expected);
    assert.equal(throwing.published, 0);
    assert.match(
      throwing.error ?? "",
      /^filter plugin throwing: process\(\) threw on \d+ of \d+ alerts \(they do not pass\): Error: no catalogue loaded/,
    );
    const status = bus.host.list().find((p) => p.name === "throwing")!;
    assert.equal(status.failedAlerts, alerts.length);
  } finally {
    encoders.close();
    await engine.close();
    await publisher.close();
    await broker.close();
    await bus.close();
    await Deno.remove(work, { recursive: true });
  }
});
