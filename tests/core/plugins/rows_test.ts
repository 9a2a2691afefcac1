import assert from "node:assert/strict";
import { checkRows } from "../../../core/plugins/rows.ts";

const OUTPUTS = {
  cls: "string",
  score: "float64",
  n: "int32",
  big: "int64",
  ok: "bool",
} as const;

Deno.test("checkRows fills missing columns with null and turns integer int64 numbers into bigint", () => {
  const rows = checkRows(
    [
      { id: 1n, cls: "SN", score: 0.5, n: 3, big: 7, ok: true },
      { id: 2n, score: null },
      { id: 3n, cls: undefined, score: NaN, n: -0, big: 2n, ok: false },
    ],
    OUTPUTS,
  );
  assert.deepEqual(rows, [
    { id: 1n, cls: "SN", score: 0.5, n: 3, big: 7n, ok: true },
    { id: 2n, cls: null, score: null, n: null, big: null, ok: null },
    { id: 3n, cls: null, score: NaN, n: -0, big: 2n, ok: false },
  ]);
});

Deno.test("checkRows names the row and column that break the contract", () => {
  const cases: [unknown, RegExp][] = [
    [{ rows: [] }, /must return an array of rows, found an object/],
    [[42], /Row 0 must be an object such as \{ id: 123n \}, found number 42/],
    [[{ id: 1 }], /Row 0: "id" must be a bigint .*found number 1/],
    [
      [{ id: 1n }, { id: 2n, extra: 1 }],
      /Row 1: column "extra" is not declared in outputs \(declared: cls, score, n, big, ok\)/,
    ],
    [
      [{ id: 1n, cls: "a", score: 1, n: 1, big: 1n, ok: true, extra: 2 }],
      /Row 0: column "extra" is not declared/,
    ],
    [[{ id: 1n, cls: "a", score: 1, n: 1, big: 1n, extra: 2 }], /column "extra" is not declared/],
    [[{ id: 1n, cls: 3 }], /Row 0: column "cls" is declared string, found number 3/],
    [[{ id: 1n, n: 1.5 }], /column "n" is declared int32, found number 1.5/],
    [[{ id: 1n, n: 2 ** 31 }], /column "n" is declared int32/],
    [[{ id: 1n, big: 2 ** 60 }], /column "big" is declared int64/],
    [[{ id: 1n, ok: "yes" }], /column "ok" is declared bool, found string "yes"/],
    [[{ id: 1n, score: 1n }], /column "score" is declared float64, found bigint 1n/],
  ];
  for (const [rows, pattern] of cases) {
    assert.throws(() => checkRows(rows, OUTPUTS), pattern);
  }
});
