import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../../core/config/mod.ts";
import { runProcess } from "../../../core/process/runtime.ts";

for (const host of ["0.0.0.0", "192.168.1.20", "::"]) {
  Deno.test(`binding the API to ${host} without a token is refused before anything starts`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fink-bind-" });
    try {
      const config = await loadConfig({
        file: null,
        env: {},
        sets: [`ui.host=${host}`, "ui.port=0", `process.state_dir=${dir}`],
      });
      await assert.rejects(
        () => runProcess(config, { start: [] }),
        (e: Error) => {
          assert.ok(e instanceof ConfigError);
          assert.match(
            e.message,
            new RegExp(`ui.host is ${host.replaceAll(".", "\\.")}, which is not loopback`),
          );
          assert.match(e.message, /set ui\.token \(or FINK_UI_TOKEN\)/);
          return true;
        },
      );
      await assert.rejects(() => Deno.stat(join(dir, "process.json")), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
