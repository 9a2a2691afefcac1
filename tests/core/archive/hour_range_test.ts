import assert from "node:assert/strict";
import {
  formatHourRange,
  HourRangeError,
  parseHour,
  parseHourRange,
} from "../../../core/archive/hour_range.ts";

const HOUR_MS = 3_600_000;

Deno.test("hour ranges read the archive's folder names, both ends included", () => {
  const range = parseHourRange("2020/01/01/00..2020/01/01/23");
  assert.deepEqual(range, {
    from: Date.UTC(2020, 0, 1) / HOUR_MS,
    to: Date.UTC(2020, 0, 1, 23) / HOUR_MS,
  });
  assert.equal(formatHourRange(range), "2020/01/01/00..2020/01/01/23");
  assert.deepEqual(parseHourRange("2023/10/18/05"), {
    from: Date.UTC(2023, 9, 18, 5) / HOUR_MS,
    to: Date.UTC(2023, 9, 18, 5) / HOUR_MS,
  });
  assert.equal(parseHour("year=2023/month=10/day=18/hour=05/"), Date.UTC(2023, 9, 18, 5) / HOUR_MS);
});

Deno.test("bad ranges are refused with what was expected", () => {
  for (
    const [text, reason] of [
      [
        "2020/01/01",
        /YYYY\/MM\/dd\/hh\.\.YYYY\/MM\/dd\/hh in real UTC hours, found "2020\/01\/01"/,
      ],
      ["2020/02/30/00", /real UTC hours/],
      ["2020/01/01/24", /real UTC hours/],
      ["2020/01/02/00..2020/01/01/00", /ends before it starts; swap its ends/],
      ["2020/01/01/00..2020/01/01/01..2020/01/01/02", /has one "\.\."/],
      ["1990/01/01/00..2020/01/01/00", /more than \d+; split it/],
    ] as const
  ) {
    assert.throws(() => parseHourRange(text), (e: Error) => {
      assert.ok(e instanceof HourRangeError, text);
      assert.match(e.message, reason);
      return true;
    });
  }
});
