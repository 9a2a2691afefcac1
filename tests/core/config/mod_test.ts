import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { ConfigError, envName, KEYS, loadConfig } from "../../../core/config/mod.ts";

const CONF = new URL("../../../conf/fink.toml", import.meta.url);

Deno.test("conf/fink.toml documents every key with its default", async () => {
  const doc = parse(await Deno.readTextFile(CONF)) as Record<string, Record<string, unknown>>;
  for (const [key, spec] of Object.entries(KEYS)) {
    const [section, name] = key.split(".");
    assert.ok(section in doc, `section [${section}] missing from conf/fink.toml`);
    assert.deepEqual(doc[section][name], spec.default, `${key} in conf/fink.toml`);
  }
  const text = await Deno.readTextFile(CONF);
  for (const key of Object.keys(KEYS)) {
    const name = key.split(".")[1];
    const line = text.split("\n").findIndex((l) => l.startsWith(`${name} =`));
    assert.ok(line > 0 && text.split("\n")[line - 1].startsWith("#"), `${key} has a comment`);
  }
});

Deno.test("defaults apply without a file", async () => {
  const config = await loadConfig({ file: null, env: {} });
  assert.deepEqual(config.list("kafka.brokers"), ["127.0.0.1:9092"]);
  assert.equal(config.number("ui.port"), 5000);
  assert.equal(config.sources["ui.port"], "default");
});

Deno.test("file, environment and --set override in that order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/c.toml`;
    await Deno.writeTextFile(
      file,
      '[ui]\nport = 6000\n[kafka]\ngroup = "g1"\ntopics = ["a", "/^b.*/"]\n',
    );
    const config = await loadConfig({
      file,
      env: { FINK_UI_PORT: "7000", FINK_KAFKA_BROKERS: "h1:1,h2:2" },
      sets: ["ui.port=8000", "simulator.in_memory=true"],
    });
    assert.equal(config.number("ui.port"), 8000);
    assert.equal(config.sources["ui.port"], "flag");
    assert.deepEqual(config.list("kafka.brokers"), ["h1:1", "h2:2"]);
    assert.equal(config.sources["kafka.brokers"], "env");
    assert.equal(config.string("kafka.group"), "g1");
    assert.deepEqual(config.list("kafka.topics"), ["a", "/^b.*/"]);
    assert.equal(config.bool("simulator.in_memory"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JSON config files work too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify({ archive: { layout: "hive" } }));
    const config = await loadConfig({ file: `${dir}/c.json`, env: {} });
    assert.equal(config.string("archive.layout"), "hive");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plugin sections are passed through untouched", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      '[plugins]\ndir = "p"\n[plugins.classify]\nradius = 2\n[[plugins.classify.catalogs]]\nname = "gcvs"\n',
    );
    const config = await loadConfig({ file: `${dir}/c.toml`, env: {} });
    assert.equal(config.string("plugins.dir"), "p");
    assert.deepEqual(config.plugins.classify, { radius: 2, catalogs: [{ name: "gcvs" }] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--set reaches into a plugin's own section, subtables included", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      '[plugins.anomaly.models]\nbeta = "a.zip"\n',
    );
    const config = await loadConfig({
      file: `${dir}/c.toml`,
      env: {},
      sets: [
        "plugins.anomaly.models.june=models/june.zip",
        "plugins.anomaly.top=5",
        "plugins.classify.catalogs.gcvs.enabled=false",
        "plugins.budget_ms=7000",
      ],
    });
    assert.deepEqual(config.plugins.anomaly, {
      models: { beta: "a.zip", june: "models/june.zip" },
      top: 5,
    });
    assert.deepEqual(config.plugins.classify, { catalogs: { gcvs: { enabled: false } } });
    assert.equal(config.number("plugins.budget_ms"), 7000);
    await assert.rejects(
      loadConfig({ file: `${dir}/c.toml`, env: {}, sets: ["plugins.anomaly.models.beta.x=1"] }),
      /plugins\.anomaly\.models\.beta is a value, not a table/,
    );
    await assert.rejects(
      loadConfig({ file: null, env: {}, sets: ["plugins.budgetms=1"] }),
      /Unknown configuration key "plugins\.budgetms"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad values are refused naming the key, the value and what is expected", async () => {
  const cases: [Parameters<typeof loadConfig>[0], RegExp][] = [
    [{ sets: ["ui.port=99999"] }, /ui\.port.*99999.*whole number from 0 to 65535/],
    [{ sets: ["ui.port=abc"] }, /ui\.port.*expected a whole number/],
    [{ sets: ["kafka.start=middle"] }, /kafka\.start.*"middle".*one of earliest, latest/],
    [{ sets: ["kafka.brokers=nohost"] }, /kafka\.brokers.*host:port/],
    [{ sets: ["archive.root=s3://bucket/x"] }, /archive\.root.*webhdfs:\/\/host:port\/path/],
    [{ sets: ["kafka.brokr=x"] }, /Unknown configuration key "kafka\.brokr".*kafka\.brokers/],
    [{ sets: ["noequals"] }, /--set expects key=value/],
    [
      { sets: ["kafka.heartbeat_ms=3000"] },
      /kafka\.heartbeat_ms is 3000 and kafka\.session_timeout_ms 6000.*at most a third/,
    ],
    [{ env: { FINK_SIMULATOR_IN_MEMORY: "maybe" } }, /FINK_SIMULATOR_IN_MEMORY.*true or false/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(loadConfig({ file: null, env: {}, ...options }), (e: Error) => {
      assert.ok(e instanceof ConfigError, `${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("a broken file is refused with the file's name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.toml`, "[ui\nport = ");
    await assert.rejects(
      loadConfig({ file: `${dir}/bad.toml`, env: {} }),
      /bad\.toml is not valid TOML/,
    );
    await Deno.writeTextFile(`${dir}/unknown.toml`, "[ui]\ncolour = 1\n");
    await assert.rejects(
      loadConfig({ file: `${dir}/unknown.toml`, env: {} }),
      /Unknown configuration key "ui\.colour".*ui\.host/,
    );
    await assert.rejects(
      loadConfig({ file: `${dir}/missing.toml`, env: {} }),
      /Cannot read config file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("environment names follow FINK_ + key in capitals", () => {
  assert.equal(envName("kafka.brokers"), "FINK_KAFKA_BROKERS");
  assert.equal(envName("batch.max_ms"), "FINK_BATCH_MAX_MS");
});

Deno.test("toJSON hides the token", async () => {
  const config = await loadConfig({ file: null, env: {}, sets: ["ui.token=secret"] });
  const json = JSON.stringify(config.toJSON());
  assert.ok(!json.includes("secret"));
  assert.ok(json.includes("(set)"));
});

Deno.test("topic patterns are compiled at load: a bad /regex/ or name is refused naming the key", async () => {
  for (
    const [topics, expected] of [
      [
        "/[unclosed/",
        /kafka\.topics \(from --set\): \["\/\[unclosed\/"\]; expected a valid \/regex\//,
      ],
      ["/no-closing-slash", /expected a \/regex\/ closed by a slash/],
      ["two words", /expected topic names of letters, digits/],
    ] as const
  ) {
    await assert.rejects(
      loadConfig({ file: null, env: {}, sets: [`kafka.topics=${topics}`] }),
      (e: Error) => e instanceof ConfigError && expected.test(e.message),
      topics,
    );
  }
  const ok = await loadConfig({
    file: null,
    env: {},
    sets: ["kafka.topics=/^ztf_\\d+$/i,lsst.v7"],
  });
  assert.deepEqual(ok.list("kafka.topics"), ["/^ztf_\\d+$/i", "lsst.v7"]);
});

Deno.test("a number that is not one is quoted as typed, with what was expected", async () => {
  await assert.rejects(
    loadConfig({ file: null, env: { FINK_BATCH_MAX_MB: "12MB" }, sets: ["batch.max_alerts=abc"] }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.includes(
        'Bad value for batch.max_mb (from environment variable FINK_BATCH_MAX_MB): "12MB"; expected a whole number >= 1',
      ),
  );
  await assert.rejects(
    loadConfig({ file: null, env: {}, sets: ["batch.max_alerts=abc"] }),
    (e: Error) =>
      e instanceof ConfigError && e.message.endsWith(': "abc"; expected a whole number >= 1'),
  );
});

Deno.test("a string key that needs a value refuses an empty one; optional ones accept it", async () => {
  await assert.rejects(
    loadConfig({ file: null, env: {}, sets: ["kafka.group= "] }),
    (e: Error) =>
      e instanceof ConfigError && /kafka\.group .*expected a non-empty string/.test(e.message),
  );
  const ok = await loadConfig({ file: null, env: { FINK_UI_TOKEN: "" }, sets: ["decode.schema="] });
  assert.equal(ok.string("decode.schema"), "");
});

Deno.test("enum keys read as their union of values; the log level comes from FINK_LOG_LEVEL", async () => {
  const config = await loadConfig({
    file: null,
    env: { FINK_LOG_LEVEL: "warn" },
    sets: ["archive.layout=hive"],
  });
  const layout: "plain" | "hive" = config.choice("archive.layout");
  assert.equal(layout, "hive");
  assert.equal(config.choice("log.level"), "warn");
  assert.equal(config.sources["log.level"], "env");
  // @ts-expect-error archive.root is not an enum key
  assert.throws(() => config.choice("archive.root"));
  await assert.rejects(
    loadConfig({ file: null, env: { FINK_LOG_LEVEL: "loud" } }),
    /Bad value for log\.level \(from environment variable FINK_LOG_LEVEL\): "loud"; expected one of debug, info, warn, error/,
  );
});
