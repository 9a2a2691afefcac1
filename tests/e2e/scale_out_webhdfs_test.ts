/** The scale-out chaos run (see scale_out_chaos.ts) with the archive on the WebHDFS test server. */
import { chaosRun } from "./scale_out_chaos.ts";

Deno.test({
  name: "3 nodes, 8 partitions, 20 seeded joins, leaves and SIGKILLs on WebHDFS: exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => chaosRun("webhdfs"),
});
