import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import {
  describeDenial,
  pluginModuleGraph,
  workerPermissions,
} from "../../../core/plugins/sandbox.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

Deno.test("the module graph lists local code files and the npm packages they use", async () => {
  const graph = await pluginModuleGraph(here("../../fixtures/plugins/ztf_batch.ts"));
  for (const file of ["fixtures/plugins/ztf_batch.ts", "shared_data.ts", "core/plugins/host.ts"]) {
    assert.ok(graph.files.some((f) => f.endsWith(file)), file);
  }
  for (const pkg of ["avsc", "apache-arrow", "flatbuffers"]) {
    assert.ok(graph.packages.some((p) => p.endsWith(`/node_modules/${pkg}`)), pkg);
  }
});

Deno.test("worker permissions: declared paths resolved from the root, the rest denied", () => {
  const permissions = workerPermissions(
    { read: ["catalogs", "/abs/file"], net: ["example.org:443"] },
    {
      root: "/project",
      graph: {
        files: ["/project/plugins/x.ts"],
        packages: ["/project/node_modules/.deno/a/node_modules/a"],
      },
    },
  );
  assert.deepEqual(permissions, {
    read: [
      "/project/plugins/x.ts",
      "/project/node_modules/.deno/a/node_modules/a",
      "/project/catalogs",
      "/abs/file",
    ],
    write: false,
    net: ["example.org:443"],
    env: false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
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
    configs: { reader: { path: join(root, "data", "label.txt") } },
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
