import assert from "node:assert/strict";
import { join } from "node:path";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { checkConsent, grantsNeedingConsent } from "../../../core/plugins/consent.ts";
import { describeDenial, processFlags } from "../../../core/plugins/sandbox.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";

Deno.test("process flags: declared paths resolved from the root, code readable, the rest denied", async () => {
  const { root, dir } = await tempRoot();
  try {
    const file = await installPlugin(dir, "good");
    await Deno.mkdir(join(dir, "data"));
    await Deno.writeTextFile(join(dir, "data", "model.onnx"), "weights");
    await Deno.writeTextFile(join(dir, "helper.ts"), "export const x = 1;\n");
    const flags = processFlags(
      { read: ["catalogs", "/abs/file"], net: ["example.org:443"] },
      { root, file, memoryMb: 512, deny: [join(root, ".fink")] },
    );
    const value = (flag: string) => flags.find((f) => f.startsWith(`${flag}=`))?.split("=")[1];
    const read = value("--allow-read")!.split(",");
    for (const path of [file, join(dir, "helper.ts"), join(root, "catalogs"), "/abs/file"]) {
      assert.ok(read.includes(path), path);
    }
    assert.ok(
      read.some((p) => p.endsWith("/core")) && read.some((p) => p.endsWith("/node_modules")),
    );
    assert.ok(!read.some((p) => p.includes("model.onnx")), "data files are not code");
    assert.equal(value("--allow-net"), "example.org:443");
    assert.equal(value("--deny-read"), join(root, ".fink"));
    assert.ok(flags.includes("--v8-flags=--max-old-space-size=512"));
    assert.ok(flags.includes("--no-prompt") && flags.includes("--no-remote"));
    for (
      const never of [
        "-A",
        "--allow-all",
        "--allow-run",
        "--allow-ffi",
        "--allow-sys",
        "--allow-write",
        "--allow-env",
      ]
    ) {
      assert.ok(!flags.some((f) => f === never || f.startsWith(`${never}=`)), never);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("broad grants need the operator's consent, narrow reads do not", () => {
  const options = { root: "/srv/fink", homes: ["/home/astro", "/root"] };
  assert.deepEqual(
    grantsNeedingConsent({ read: ["plugins/data/catalogs", "../shared/data/catalogs"] }, options),
    [],
  );
  assert.deepEqual(
    grantsNeedingConsent(
      {
        read: ["/", ".", "/home/astro", "/home", "/srv"],
        write: ["out"],
        net: ["a.org"],
        env: ["X"],
      },
      options,
    ),
    [
      "read:/",
      "read:.",
      "read:/home/astro",
      "read:/home",
      "read:/srv",
      "write:out",
      "net:a.org",
      "env:X",
    ],
  );
  assert.throws(
    () =>
      checkConsent("wide", { read: ["/"], net: ["a.org"] }, { ...options, allow: ["net:a.org"] }),
    (error: Error) => {
      assert.equal(
        error.message,
        "it asks for read:/, which the operator must allow; add under [plugins.wide] " +
          'in the configuration: allow = ["read:/","net:a.org"]',
      );
      return true;
    },
  );
  checkConsent("wide", { read: ["/"], net: ["a.org"] }, {
    ...options,
    allow: ["read:/", "net:a.org"],
  });
});

Deno.test("Deno's permission errors are reworded with the plugin's name", () => {
  assert.equal(
    describeDenial(
      "spy",
      'Requires read access to "/etc/passwd", run again with the --allow-read flag',
    ),
    'plugin spy: read access to "/etc/passwd" denied (it is not declared in the manifest; ' +
      "add it to permissions.read if the plugin needs it)",
  );
  assert.match(
    describeDenial(
      "spy",
      'Requires sys access to "hostname", run again with the --allow-sys flag',
    )!,
    /^plugin spy: sys access to "hostname" denied \(plugins are never granted sys access\)$/,
  );
  assert.equal(describeDenial("spy", "division by zero"), undefined);
});

Deno.test("a plugin reads what it declared, relative to the project root", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "reader");
  await Deno.mkdir(join(root, "data"));
  await Deno.writeTextFile(join(root, "data", "label.txt"), "variable star\n");
  Deno.env.set("FINK_PLUGIN_TEST_LABEL", "from env");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    configs: {
      reader: { path: join(root, "data", "label.txt"), allow: ["env:FINK_PLUGIN_TEST_LABEL"] },
    },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    assert.equal(host.list()[0].state, "running", host.list()[0].lastError ?? "");
    host.dispatch(ztfBatch(await readZtfAlerts(undefined, 3)));
    await host.idle();
    assert.deepEqual(host.summary("reader").counts, {
      label: { "variable star": 3 },
      env: { "from env": 3 },
    });
  } finally {
    Deno.env.delete("FINK_PLUGIN_TEST_LABEL");
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
