import assert from "node:assert/strict";
import { fink } from "../../support/fink_process.ts";

const stateDir = await Deno.makeTempDir();
const isolated = { FINK_PROCESS_STATE_DIR: stateDir };
globalThis.addEventListener("unload", () => Deno.removeSync(stateDir, { recursive: true }));

Deno.test({
  name: "unknown service: one-line error, the list of services, exit 2",
  async fn() {
    const r = await fink(["start", "nosuch"], isolated);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: Unknown service "nosuch"$/m);
    assert.match(r.stderr, /^services: simulator, archive, distribute, ui.*$/m);
  },
});

Deno.test("bad flag: error naming it, usage, exit 2", async () => {
  const r = await fink(["start", "archive", "--simulatr"], isolated);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: .*--simulatr/);
  assert.match(r.stderr, /Usage:/);
});

Deno.test("bad configuration value is refused at start naming key and value", async () => {
  const r = await fink(["start", "archive", "--set", "ui.port=70000"], isolated);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Bad value for ui\.port \(from --set\): 70000; expected a whole number from 0 to 65535/,
  );
  const env = await fink(["start", "archive"], { ...isolated, FINK_KAFKA_START: "never" });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /kafka\.start \(from environment variable FINK_KAFKA_START\)/);
});

Deno.test("unknown command and missing service name are usage errors", async () => {
  assert.equal((await fink(["launch"], isolated)).code, 2);
  const r = await fink(["start"], isolated);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /start needs a service name/);
});

Deno.test("status --json without a process prints the effective configuration", async () => {
  const r = await fink(["status", "--json", "--set", "kafka.group=g7"], {
    ...isolated,
    FINK_UI_PORT: "5123",
  });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.running, false);
  assert.deepEqual(doc.config.keys["kafka.group"], { value: "g7", source: "flag" });
  assert.deepEqual(doc.config.keys["ui.port"], { value: 5123, source: "env" });
});

Deno.test("stop without a process says there is nothing to stop", async () => {
  const r = await fink(["stop"], isolated);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /nothing to stop/);
});

Deno.test("--simulator points Kafka at the simulator", async () => {
  const r = await fink(
    ["status", "--json", "--simulator", "--set", "simulator.port=19999"],
    isolated,
  );
  const keys = JSON.parse(r.stdout).config.keys;
  assert.deepEqual(keys["kafka.brokers"].value, ["127.0.0.1:19999"]);
  assert.deepEqual(keys["kafka.topics"].value, ["ztf-sim"]);
  assert.equal(keys["kafka.topics"].source, "simulator");
});

Deno.test("--simulator yields to an explicit --set, as the documented precedence says", async () => {
  const r = await fink(
    ["status", "--json", "--simulator", "--set", "kafka.topics=foo", "--set", "kafka.brokers=h:1"],
    isolated,
  );
  assert.equal(r.code, 0, r.stderr);
  const keys = JSON.parse(r.stdout).config.keys;
  assert.deepEqual(keys["kafka.topics"], { value: ["foo"], source: "flag" });
  assert.deepEqual(keys["kafka.brokers"], { value: ["h:1"], source: "flag" });
  assert.deepEqual(keys["decode.mode"], { value: "container", source: "simulator" });
});

Deno.test("a topic pattern that does not compile is refused at start naming the key, exit 2", async () => {
  const r = await fink(["start", "archive", "--set", "kafka.topics=/[unclosed/"], isolated);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: Bad value for kafka\.topics \(from --set\): .*\/\[unclosed\//m);
});
