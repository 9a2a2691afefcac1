/** The progress line and its printer: in-place updates on a terminal, plain lines otherwise. */
import assert from "node:assert/strict";
import {
  formatProgress,
  progressPrinter,
  type ReplayStats,
} from "../../../simulator/replayer/progress.ts";

const STATS: ReplayStats = {
  topic: "t",
  encoding: "container",
  sent: 1200,
  total: 5000,
  bytes: 24_600_000,
  observations: 3,
  elapsedSeconds: 2,
  alertsPerSecond: 600,
  megabytesPerSecond: 12.3,
  schemaId: null,
  schemaPath: null,
  finished: false,
  stopped: false,
};

function capture(terminal: boolean) {
  const chunks: string[] = [];
  const output = {
    writeSync(bytes: Uint8Array) {
      chunks.push(new TextDecoder().decode(bytes));
      return bytes.length;
    },
    isTerminal: () => terminal,
  };
  return { chunks, print: progressPrinter(output) };
}

Deno.test("the line says sent/total alerts, alerts/s and MB/s", () => {
  assert.equal(formatProgress(STATS), "sent 1200/5000 alerts, 600.0 alerts/s, 12.30 MB/s");
  assert.match(formatProgress({ ...STATS, finished: true }), /\(done\)$/);
  assert.match(formatProgress({ ...STATS, finished: true, stopped: true }), /\(stopped\)$/);
});

Deno.test("a terminal gets one rewritten line, ended by a newline when finished", () => {
  const { chunks, print } = capture(true);
  print(STATS);
  print({ ...STATS, sent: 5000, finished: true });
  assert.ok(chunks[0].startsWith("\r\x1b[2Ksent 1200/5000"));
  assert.ok(!chunks[0].includes("\n"));
  assert.ok(chunks[1].endsWith("(done)\n"));
});

Deno.test("a pipe or file gets one plain line per update", () => {
  const { chunks, print } = capture(false);
  print(STATS);
  print(STATS);
  assert.deepEqual(chunks, [
    "sent 1200/5000 alerts, 600.0 alerts/s, 12.30 MB/s\n",
    "sent 1200/5000 alerts, 600.0 alerts/s, 12.30 MB/s\n",
  ]);
});
