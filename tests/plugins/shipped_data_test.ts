/**
 * The product runs from a fresh clone with nothing beside it: the data plugins
 * read at run time ship in `plugins/data/`, each file described in its README.
 */
import assert from "node:assert/strict";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import plugin from "../../plugins/classify.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DATA = resolve(ROOT, "plugins/data");

function insideProject(path: string): boolean {
  const rel = relative(ROOT, resolve(ROOT, path));
  return rel !== "" && !rel.startsWith("..") && !rel.startsWith("/");
}

async function* files(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = resolve(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else yield path;
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("every shipped data file is in plugins/data/README.md with its size and SHA-256", async () => {
  const readme = await Deno.readTextFile(resolve(DATA, "README.md"));
  let count = 0;
  for await (const path of files(DATA)) {
    if (path === resolve(DATA, "README.md")) continue;
    count++;
    const name = relative(DATA, path).split("/").pop()!;
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${name}\``));
    assert.ok(row, `${relative(ROOT, path)} is not described in plugins/data/README.md`);
    assert.ok(row.includes(await sha256(path)), `${name}: SHA-256 differs from the README`);
    const bytes = (await Deno.stat(path)).size.toLocaleString("en-US");
    assert.ok(row.includes(`| ${bytes} `), `${name}: size ${bytes} differs from the README`);
  }
  assert.ok(count >= 6, `expected the six classify catalogs, found ${count} files`);
});

Deno.test("classify reads its catalogs from the project, not from ../shared", async () => {
  for (const path of plugin.permissions.read ?? []) {
    assert.ok(insideProject(path), `classify declares read access outside the project: ${path}`);
  }
  const logs: Record<string, unknown>[] = [];
  await plugin.setup!({ name: "classify", config: {}, log: (_m, fields) => logs.push(fields!) });
  assert.deepEqual(logs.map((l) => l.catalog), ["tns", "gcvs", "spicy", "3hsp", "4lac"]);
  assert.deepEqual(logs.map((l) => l.sources), [2, 59099, 117446, 2013, 3814]);
});
