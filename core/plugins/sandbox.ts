/**
 * The sandbox of a plugin process: Deno permission flags built from its
 * manifest, and nothing else. No -A, run, ffi, sys or remote imports ever.
 *
 * Besides what the manifest declares, the process may read code: Deno checks
 * read permission on every local file `import()` loads, so the plugin file,
 * the other code files of its folder (`.ts`, `.js`, …; data files are not
 * code), the broker's own `core/` (whose `define.ts` every plugin imports) and
 * the project's `node_modules` (npm packages read their own `.wasm` at run
 * time) are readable. Paths in `deny` (the folder of the control token) are
 * never readable, whatever the manifest and the operator's consent say.
 */
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { PluginPermissions } from "./define.ts";

const CODE_EXTENSIONS = new Set([".ts", ".js", ".mjs", ".mts", ".tsx", ".jsx"]);
/** The broker's project root (beside core/), whose deno.json and node_modules plugins use. */
const PROJECT = fileURLToPath(new URL("../../", import.meta.url));

/** Options of {@link processFlags}. */
export interface ProcessFlagOptions {
  /** Project root, against which relative manifest paths are resolved. */
  root: string;
  /** The plugin file. */
  file: string;
  /** Heap cap of the process, in MB. */
  memoryMb: number;
  /** Paths the process may never read. */
  deny: string[];
}

/** Paths as Deno flags want them: absolute, and without commas (the flags' separator). */
function absolutePaths(list: string[] | undefined, root: string): string[] {
  return (list ?? []).map((p) => {
    if (p.includes(",")) {
      throw new Error(
        `Permission path "${p}" holds a comma, which Deno flags cannot carry; rename it`,
      );
    }
    return isAbsolute(p) ? p : resolve(root, p);
  });
}

/** Code files of a plugin's folder, subfolders included (hidden entries and node_modules not). */
export function pluginCodeFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...pluginCodeFiles(path));
    else if (entry.isFile && CODE_EXTENSIONS.has(extname(entry.name))) files.push(path);
  }
  return files;
}

/**
 * The `deno run` flags of a plugin process for its declared permissions (the probe gets `{}`).
 *
 * @throws Error when a declared path cannot be expressed as a flag
 */
export function processFlags(declared: PluginPermissions, options: ProcessFlagOptions): string[] {
  const { root, file } = options;
  const code = [
    file,
    ...pluginCodeFiles(dirname(file)),
    join(PROJECT, "core"),
    join(PROJECT, "node_modules"),
  ];
  const read = [...new Set([...code, ...absolutePaths(declared.read, root)])];
  const flags = [
    "run",
    "--no-prompt",
    "--no-remote",
    "--cached-only",
    `--config=${join(PROJECT, "deno.json")}`,
    `--v8-flags=--max-old-space-size=${options.memoryMb}`,
    `--allow-read=${read.join(",")}`,
  ];
  const write = absolutePaths(declared.write, root);
  if (write.length > 0) flags.push(`--allow-write=${write.join(",")}`);
  if ((declared.net ?? []).length > 0) flags.push(`--allow-net=${declared.net!.join(",")}`);
  if ((declared.env ?? []).length > 0) flags.push(`--allow-env=${declared.env!.join(",")}`);
  const deny = absolutePaths(options.deny, root);
  if (deny.length > 0) {
    flags.push(`--deny-read=${deny.join(",")}`, `--deny-write=${deny.join(",")}`);
  }
  return flags;
}

const DENIED = /Requires (\w+) access(?: to (.+?))?, run again with the --allow-\w+ flag/;
const NEVER_GRANTED = ["run", "ffi", "sys", "import"];

/**
 * Rewords Deno's permission error for an operator: which plugin, what it tried,
 * what to do. Returns undefined when the message is not a permission denial.
 */
export function describeDenial(plugin: string, message: string): string | undefined {
  const match = DENIED.exec(message);
  if (match === null) return undefined;
  const [, kind, target] = match;
  const advice = NEVER_GRANTED.includes(kind)
    ? `plugins are never granted ${kind} access`
    : `it is not declared in the manifest; add it to permissions.${kind} if the plugin needs it`;
  const what = target === undefined ? `${kind} access` : `${kind} access to ${target}`;
  return `plugin ${plugin}: ${what} denied (${advice})`;
}
