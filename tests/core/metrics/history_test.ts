import assert from "node:assert/strict";
import { join } from "node:path";
import { figuresOf } from "../../../core/metrics/figures.ts";
import { HISTORY_FILE, RateHistory } from "../../../core/metrics/history.ts";
import { CLASS_HISTORY_FILE } from "../../../core/metrics/class_history.ts";
import { startTestApi, type TestApi } from "../api/fleet.ts";

/** Feeds the archive and samples the recorder once per simulated second. */
function run(api: TestApi, from: number, seconds: number, perSecond: number): void {
  for (let i = 0; i < seconds; i++) {
    const t = from + i * 1000;
    api.archive.feed(perSecond);
    api.archive.stats.tick(t);
    api.recorder.sample(t);
  }
}

async function history(api: TestApi, query: string) {
  const res = await fetch(`${api.url}/api/history?${query}`);
  return { status: res.status, body: await res.json() };
}

Deno.test("history and class counts are kept across a restart of the app", async () => {
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const first = await startTestApi();
  let before;
  let classesBefore;
  try {
    await first.manager.start("archive");
    await first.manager.start("classify");
    run(first, t0, 35, 4);
    before = await history(first, `from=${t0}&to=${t0 + 60_000}&step=10`);
    classesBefore =
      await (await fetch(`${first.url}/api/classification?from=${t0}&to=${t0 + 60_000}`)).json();
  } finally {
    await first.close();
  }
  assert.equal(before.status, 200);
  assert.deepEqual(before.body.points.map((p: { t: number }) => p.t - t0), [
    0,
    10_000,
    20_000,
    30_000,
  ]);
  assert.equal(before.body.points[3].received, 140);
  assert.ok(before.body.points.slice(1).every((p: { in: number }) => p.in === 4), "4 alerts/s in");
  const lines = (await Deno.readTextFile(join(first.dir, HISTORY_FILE))).trim().split("\n");
  assert.equal(lines.length, 4, "one line per 10 s, the unfinished one written at close");
  assert.ok(lines[0].length < 120, `compact lines: ${lines[0]}`);
  const classLines = (await Deno.readTextFile(join(first.dir, CLASS_HISTORY_FILE))).trim().split(
    "\n",
  );
  assert.equal(classLines.length, 1);

  const second = await startTestApi({ dir: first.dir });
  try {
    const after = await history(
      second,
      `from=${new Date(t0).toISOString()}&to=${t0 + 60_000}&step=10`,
    );
    assert.deepEqual(after.body, before.body);
    const classesAfter =
      await (await fetch(`${second.url}/api/classification?from=${t0}&to=${t0 + 60_000}`))
        .json();
    assert.deepEqual(classesAfter.totals, classesBefore.totals);
    assert.equal(
      Object.values(classesAfter.totals as Record<string, number>).reduce((a, b) => a + b, 0),
      138,
    );
    const coarse = await history(second, `from=${t0}&to=${t0 + 60_000}&step=60`);
    assert.equal(coarse.body.points.length, 1);
    assert.equal(coarse.body.points[0].received, 140);
  } finally {
    await second.close();
    await Deno.remove(first.dir, { recursive: true });
  }
});

Deno.test("recent history has one point per second", async () => {
  const api = await startTestApi();
  try {
    await api.manager.start("archive");
    const t0 = Date.now() - 10_000;
    run(api, t0, 5, 2);
    const { body } = await history(api, `from=${t0}&to=${t0 + 5000}&step=1`);
    assert.equal(body.step, 1);
    assert.deepEqual(body.points.map((p: { received: number }) => p.received), [2, 4, 6, 8, 10]);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("history without parameters covers the last hour with a default step", async () => {
  const api = await startTestApi();
  try {
    const { status, body } = await history(api, "");
    assert.equal(status, 200);
    assert.equal(Date.parse(body.to) - Date.parse(body.from), 3_600_000);
    assert.equal(body.step, 5);
    assert.deepEqual(body.points, []);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("bad history parameters answer 400 naming the parameter and why", async () => {
  const api = await startTestApi();
  try {
    const cases: [string, RegExp][] = [
      ["from=yesterday", /^Bad parameter from: expected an ISO 8601 time .* found "yesterday"$/],
      ["from=", /^Bad parameter from: .*found an empty value$/],
      ["to=2024-13-45T00:00:00Z", /^Bad parameter to: .*no valid time$/],
      ["to=1e12", /^Bad parameter to: /],
      [
        "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z",
        /^Bad parameter from: expected a time before to.*swap them$/,
      ],
      ["step=0", /^Bad parameter step: expected between 1 and \d+ seconds, found 0$/],
      ["step=-5", /^Bad parameter step: expected a whole number of seconds/],
      ["step=1.5", /^Bad parameter step: expected a whole number of seconds/],
      [
        "step=ten",
        /^Bad parameter step: expected a whole number of seconds such as 10, found "ten"$/,
      ],
      [
        "from=0&to=2592000000&step=1",
        /^Bad parameter step: 1 s over 2592000 s gives 2592000 points/,
      ],
    ];
    for (const [query, error] of cases) {
      const { status, body } = await history(api, query);
      assert.equal(status, 400, query);
      assert.match(body.error, error, query);
    }
    const ok = await history(
      api,
      "from=2024-05-01T00:00:00Z&to=2024-05-01T01:00:00%2B01:00&step=60",
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.body.from, "2024-05-01T00:00:00.000Z");
    assert.equal(ok.body.to, "2024-05-01T00:00:00.000Z");

    const classes = await fetch(`${api.url}/api/classification?step=90`);
    assert.equal(classes.status, 400);
    assert.match(
      (await classes.json()).error,
      /^Bad parameter step: expected a multiple of 60 seconds/,
    );
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("a torn history line is skipped and the file stays bounded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink-history-" });
  try {
    const path = join(dir, HISTORY_FILE);
    const good = JSON.stringify({
      t: 10_000,
      n: 10,
      in: 5,
      out: 4,
      mb: 0.1,
      rec: 50,
      arc: 40,
      qua: 0,
      lag: 3,
    });
    await Deno.writeTextFile(path, `${good}\n{"t":20000,"n":10,"in`);
    const reopened = await RateHistory.open({ dir, maxFileBytes: 2_000 });
    assert.deepEqual(reopened.query({ from: 0, to: 60_000, step: 10 }), [
      { t: 10_000, in: 5, out: 4, mb: 0.1, received: 50, archived: 40, quarantined: 0, lag: 3 },
    ]);
    assert.equal(
      await Deno.readTextFile(path),
      good + "\n",
      "the torn line is dropped from the file",
    );

    const start = 1_700_000_000_000;
    for (let i = 0; i < 600; i++) {
      reopened.add(figuresOf({ services: [], plugins: [] }, { now: start + i * 1000 }));
    }
    await reopened.flush();
    const size = (await Deno.stat(path)).size;
    assert.ok(size <= 2_000, `file bounded: ${size} bytes`);
    const last = (await Deno.readTextFile(path)).trim().split("\n").at(-1)!;
    assert.equal(JSON.parse(last).t, start + 590_000, "the newest lines are kept");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
