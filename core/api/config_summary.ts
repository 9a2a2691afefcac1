/**
 * The configuration as the API shows it: every key with its value and
 * source, with secrets replaced by "(set)": the control token, passwords in
 * URLs and any plugin setting whose name says it is a secret.
 */
import type { Config, ConfigJson } from "../config/mod.ts";

/** The configuration as the API shows it: {@link ConfigJson} with secrets redacted. */
export type ConfigSummary = ConfigJson;

const SECRET_NAME = /token|secret|password|passwd|credential|api[_-]?key|private/i;
const REDACTED = "(set)";

/** The configuration without secrets. */
export function configSummary(config: Config): ConfigSummary {
  // Redacting replaces values, never the shape.
  return redact(config.toJSON(), "") as ConfigSummary;
}

function redact(value: unknown, name: string): unknown {
  if (typeof value === "string") {
    if (SECRET_NAME.test(name) && value !== "") return REDACTED;
    return withoutUrlPassword(value);
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, name));
  if (value === null || typeof value !== "object") {
    return SECRET_NAME.test(name) && value !== null && value !== undefined ? REDACTED : value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // A config key entry is { value, source }: its value's secrecy comes from the key's name.
    if (key === "source") out[key] = v;
    else out[key] = redact(v, key === "value" ? name : key);
  }
  return out;
}

function withoutUrlPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]+):[^/@\s]*@/i, `$1:${REDACTED}@`);
}
