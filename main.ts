/**
 * Entry point: `deno task start <service>`, `deno task stop [service]`,
 * `deno task status`. See README.md.
 */
import { runCli } from "./core/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
