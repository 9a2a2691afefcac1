/**
 * Structured log lines in key=value form on stderr, one per event, always
 * naming the service: `ts=… level=info service=archive msg="…" topic=… partition=…`.
 */

/** Severity of a log line. */
export type Level = "debug" | "info" | "warn" | "error";

/** Fields attached to a log line: any names and values, printed as `key=value`. */
export type Fields = Record<string, unknown>;

/** A logger bound to one service. */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let threshold: Level = "info";

/** Sets the lowest level printed: `log.level` of the configuration (`FINK_LOG_LEVEL`). */
export function setLogLevel(level: Level): void {
  threshold = level;
}

/** A logger whose lines carry `service=<name>`. */
export function logger(service: string): Logger {
  const at = (level: Level) => (msg: string, fields?: Fields) => {
    if (ORDER[level] < ORDER[threshold]) return;
    console.error(formatLine({ level, service, msg, ...fields }));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Formats fields as one key=value line, quoting values with spaces. */
export function formatLine(fields: Fields): string {
  const parts = [`ts=${new Date().toISOString()}`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  return parts.join(" ");
}

function formatValue(value: unknown): string {
  const text = typeof value === "string"
    ? value
    : typeof value === "bigint"
    ? value.toString()
    : value instanceof Error
    ? value.message
    : JSON.stringify(value);
  return /[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text;
}
