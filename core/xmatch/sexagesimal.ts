/**
 * Sexagesimal coordinates as catalogs write them: right ascension in hours
 * ("hh mm ss.ss" or "hh:mm:ss.ss") and declination in degrees ("±dd mm ss").
 */

const SEPARATORS = /[\s:hmsd°'"]+/;

function parts(text: string, what: string): [number, number, number, boolean] {
  const trimmed = text.trim();
  const negative = trimmed.startsWith("-");
  const body = trimmed.replace(/^[+-]/, "");
  const fields = body.split(SEPARATORS).filter((f) => f.length > 0);
  if (fields.length < 1 || fields.length > 3) {
    throw new Error(
      `Expected ${what} as "a b c" (sexagesimal) but found ${JSON.stringify(text)}`,
    );
  }
  const numbers = fields.map(Number);
  if (numbers.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new Error(
      `Expected ${what} made of non-negative numbers but found ${JSON.stringify(text)}`,
    );
  }
  const [a, b = 0, c = 0] = numbers;
  // Exactly 60 appears in real catalogs where seconds were rounded ("14 46 60.0").
  if (b > 60 || c > 60) {
    throw new Error(
      `Expected minutes and seconds of at most 60 in ${what} but found ${JSON.stringify(text)}`,
    );
  }
  return [a, b, c, negative];
}

/**
 * Parses a right ascension given in hours ("00 01 16.37", "00:01:16.37") into degrees.
 *
 * @throws Error when the text is not three sexagesimal fields or the hour is outside [0, 24)
 */
export function parseRaHours(text: string): number {
  const [h, m, s, negative] = parts(text, "right ascension in hours");
  const hours = h + m / 60 + s / 3600;
  if (negative || hours >= 24) {
    throw new Error(
      `Expected right ascension in [0h, 24h) but found ${JSON.stringify(text)}`,
    );
  }
  return hours * 15;
}

/**
 * Parses a declination given in degrees ("+29 35 34.0", "-00 30 00") into degrees.
 * The sign applies to the whole value, so "-00 30 00" is -0.5.
 *
 * @throws Error when the text is not sexagesimal or the value is outside [-90, 90]
 */
export function parseDecDegrees(text: string): number {
  const [d, m, s, negative] = parts(text, "declination in degrees");
  const value = d + m / 60 + s / 3600;
  if (value > 90) {
    throw new Error(`Expected declination within ±90° but found ${JSON.stringify(text)}`);
  }
  return negative ? -value : value;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads a coordinate written either as decimal degrees ("12.5") or sexagesimal
 * (hours for right ascension, degrees for declination).
 *
 * @throws Error when the text is neither
 */
export function parseCoordinate(text: string, axis: "ra" | "dec"): number {
  const trimmed = text.trim();
  if (DECIMAL.test(trimmed)) return Number(trimmed);
  return axis === "ra" ? parseRaHours(trimmed) : parseDecDegrees(trimmed);
}
