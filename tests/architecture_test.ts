/**
 * The rule of docs/architecture.md, checked on the code: data flows one way, so
 * a module under core/ imports only from its own folder, from the foundations,
 * or from a step before its own; and the page names every folder of core/.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The steps of the data flow, in order (docs/architecture.md). */
const STEPS: readonly (readonly string[])[] = [
  ["core", "core/config", "core/storage", "core/services"],
  ["core/source"],
  ["core/avro"],
  ["core/arrow"],
  ["core/archive"],
  ["core/plugins", "core/xmatch"],
  ["core/query", "core/distribution"],
  ["core/metrics"],
  ["core/api"],
  ["core/process", "core/cli"],
];
const EDGE = STEPS.length - 1;

function stepOf(folder: string): number {
  const step = STEPS.findIndex((folders) => folders.includes(folder));
  assert.ok(step >= 0, `${folder} is in no step of docs/architecture.md; add it there and here`);
  return step;
}

function* sources(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative module specifiers of a file: static imports, re-exports and dynamic imports. */
function imports(text: string): string[] {
  const found = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+"(\.[^"]+)"/g)]
    .map((m) => m[1]);
  found.push(...[...text.matchAll(/import\(\s*"(\.[^"]+)"\s*\)/g)].map((m) => m[1]));
  return found;
}

Deno.test("no module under core/ imports from a step later in the data flow", () => {
  const wrong: string[] = [];
  for (const file of sources(join(ROOT, "core"))) {
    const from = relative(ROOT, dirname(file));
    const fromStep = stepOf(from);
    for (const specifier of imports(Deno.readTextFileSync(file))) {
      const target = relative(ROOT, dirname(join(dirname(file), specifier)));
      if (target === from || !target.startsWith("core") || fromStep === EDGE) continue;
      const toStep = stepOf(target);
      const allowed = toStep === 0 || toStep < fromStep;
      if (!allowed) wrong.push(`${relative(ROOT, file)} imports ${specifier} (${target})`);
    }
  }
  assert.deepEqual(wrong, [], "imports against the data flow");
});

Deno.test("docs/architecture.md names every folder of core/", () => {
  const page = Deno.readTextFileSync(join(ROOT, "docs", "architecture.md"));
  const folders = [...Deno.readDirSync(join(ROOT, "core"))].filter((e) => e.isDirectory)
    .map((e) => `core/${e.name}`);
  for (const folder of folders) {
    assert.ok(page.includes(`| \`${folder}\``), `${folder} has its line in docs/architecture.md`);
    stepOf(folder);
  }
});
