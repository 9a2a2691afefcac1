/**
 * The sandbox of a plugin Worker: what it may touch is exactly what its manifest
 * declares, plus read access to the code of its own static module graph.
 *
 * Why that extra grant: Deno checks read permission for every local file that
 * `import()` loads, including the static imports of the imported file, but not
 * for the Worker entry's own graph (worker.ts, define.ts, apache-arrow are thus
 * free) nor for loading npm modules. The plugin's local code files are listed
 * with `deno info --json` before the Worker starts; data files (JSON, text) in
 * that graph are refused, since granting them would let a plugin read any file
 * by importing it. The folders of the npm packages it imports (and their
 * dependencies) are granted too, because some packages read their own files at
 * run time (parquet-wasm's Node build reads its .wasm with `fs`).
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { PluginPermissions } from "./define.ts";

const CODE_MEDIA_TYPES = new Set([
  "TypeScript",
  "JavaScript",
  "TSX",
  "JSX",
  "Mts",
  "Mjs",
  "Cts",
  "Cjs",
  "Dts",
  "Dmts",
  "Dcts",
]);

/** The plugin's static module graph, as far as the sandbox is concerned. */
export interface PluginModuleGraph {
  /** Local code files, the plugin file included. */
  files: string[];
  /** Folders of the npm packages it imports, dependencies included. */
  packages: string[];
}

/** Options of {@link pluginModuleGraph}. */
export interface ModuleGraphOptions {
  /** Working directory of `deno info`, where the import map's deno.json is found. */
  cwd?: string;
}

/**
 * Local code files and npm package folders of a plugin's static module graph.
 *
 * @throws Error with Deno's own wording when the graph does not resolve (syntax error, missing module)
 */
export async function pluginModuleGraph(
  file: string,
  options: ModuleGraphOptions = {},
): Promise<PluginModuleGraph> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) {
    throw new Error(new TextDecoder().decode(output.stderr).trim() || "deno info failed");
  }
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string; mediaType?: string; error?: string }[];
    npmPackages?: Record<string, { dependencies: string[]; localPath?: string }>;
  };
  const files: string[] = [];
  const packages = new Set<string>();
  const npm = graph.npmPackages ?? {};
  const addPackage = (key: string) => {
    const found = npm[key];
    if (found?.localPath === undefined || packages.has(found.localPath)) return;
    packages.add(found.localPath);
    found.dependencies.forEach(addPackage);
  };
  for (const module of graph.modules) {
    if (module.error !== undefined) throw new Error(module.error);
    if (module.specifier.startsWith("npm:/")) addPackage(npmPackageKey(module.specifier));
    if (!module.specifier.startsWith("file:")) continue;
    const path = fileURLToPath(module.specifier);
    if (!CODE_MEDIA_TYPES.has(module.mediaType ?? "")) {
      throw new Error(
        `The plugin imports ${path} (${module.mediaType ?? "unknown type"}), which is not code; ` +
          `read data files in setup() and declare them under permissions.read`,
      );
    }
    files.push(path);
  }
  return { files, packages: [...packages] };
}

/** `npm:/@scope/name@1.2.3/sub/path` → `@scope/name@1.2.3`. */
function npmPackageKey(specifier: string): string {
  const parts = specifier.slice("npm:/".length).split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Worker permission descriptor, as accepted by `new Worker(url, { deno: { permissions } })`. */
export interface WorkerPermissions {
  read: string[] | false;
  write: string[] | false;
  net: string[] | false;
  env: string[] | false;
  run: false;
  ffi: false;
  sys: false;
  import: false;
}

/** Options of {@link workerPermissions}. */
export interface WorkerPermissionOptions {
  /** Project root, against which relative manifest paths are resolved. */
  root: string;
  /** The plugin's module graph, whose code it may read. */
  graph: PluginModuleGraph;
}

/**
 * The Worker permissions for a manifest: declared paths resolved against the
 * project root, plus read access to the plugin's own code.
 */
export function workerPermissions(
  declared: PluginPermissions,
  options: WorkerPermissionOptions,
): WorkerPermissions {
  const { root, graph } = options;
  const paths = (list: string[] | undefined) =>
    (list ?? []).map((p) => (isAbsolute(p) ? p : resolve(root, p)));
  const orFalse = (list: string[]) => (list.length > 0 ? list : false as const);
  return {
    read: orFalse([...graph.files, ...graph.packages, ...paths(declared.read)]),
    write: orFalse(paths(declared.write)),
    net: orFalse([...(declared.net ?? [])]),
    env: orFalse([...(declared.env ?? [])]),
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}

const DENIED = /Requires (\w+) access to (.+?), run again with the --allow-\w+ flag/;
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
  return `plugin ${plugin}: ${kind} access to ${target} denied (${advice})`;
}
