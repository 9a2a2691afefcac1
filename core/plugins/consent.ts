/**
 * What a plugin may be granted without asking, and what needs the operator's
 * consent in the configuration. Narrow reads of named files or folders load as
 * declared; a read of `/`, of a home folder (or anything above one) or of the
 * whole project (or anything above it), any write, any net and any env load
 * only when `[plugins.<name>] allow = [...]` lists each of them as
 * `"<kind>:<value>"`, exactly as the manifest declares it.
 */
import { isAbsolute, relative, resolve } from "node:path";
import type { PluginPermissions } from "./define.ts";

/** Options of {@link checkConsent}. */
export interface ConsentOptions {
  /** Project root, against which relative paths are resolved. */
  root: string;
  /** The operator's grants: the `allow` list of the plugin's configuration section. */
  allow: unknown;
  /** Home folders besides `/home/<user>`; default the HOME of the process and `/root`. */
  homes?: string[];
}

/** Whether `path` is `folder` itself or a folder above it. */
function coversFolder(path: string, folder: string): boolean {
  const rel = relative(path, folder);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

function homeFolders(): string[] {
  const homes = ["/root"];
  try {
    const home = Deno.env.get("HOME");
    if (home !== undefined && home !== "") homes.push(home);
  } catch {
    // Without env permission only the usual places are known.
  }
  return homes;
}

/** The declared grants that need the operator's consent, as `"<kind>:<value>"`. */
export function grantsNeedingConsent(
  declared: PluginPermissions,
  options: Omit<ConsentOptions, "allow">,
): string[] {
  const root = resolve(options.root);
  const homes = options.homes ?? homeFolders();
  const needed: string[] = [];
  for (const path of declared.read ?? []) {
    const full = resolve(root, path);
    const broad = full === "/" || coversFolder(full, root) ||
      homes.some((home) => coversFolder(full, home)) || /^\/home(\/[^/]+)?$/.test(full);
    if (broad) needed.push(`read:${path}`);
  }
  for (const kind of ["write", "net", "env"] as const) {
    for (const value of declared[kind] ?? []) needed.push(`${kind}:${value}`);
  }
  return needed;
}

/**
 * Refuses a plugin whose broad grants the operator has not allowed.
 *
 * @throws Error showing the exact configuration line that would allow it
 */
export function checkConsent(
  name: string,
  declared: PluginPermissions,
  options: ConsentOptions,
): void {
  const needed = grantsNeedingConsent(declared, options);
  const allowed = Array.isArray(options.allow) ? options.allow.map(String) : [];
  const missing = needed.filter((grant) => !allowed.includes(grant));
  if (missing.length === 0) return;
  const line = `allow = ${JSON.stringify(needed)}`;
  throw new Error(
    `it asks for ${missing.join(", ")}, which the operator must allow; ` +
      `add under [plugins.${name}] in the configuration: ${line}`,
  );
}

/** Built-in service names no plugin may take. */
export const BUILT_IN_NAMES: readonly string[] = [
  "archive",
  "simulator",
  "ui",
  "distribute",
  "query",
];

/**
 * Refuses a plugin named like a built-in service.
 *
 * @throws Error naming the reserved name and saying to rename the plugin
 */
export function checkName(name: string, reserved: readonly string[]): void {
  if (reserved.includes(name)) {
    throw new Error(
      `plugin name "${name}" is reserved for a built-in service; give the plugin another name`,
    );
  }
}
