/**
 * Alert sources: a real folder (recursively), tar and tar.gz archives built with the
 * system tar (GNU, pax and ustar formats, long nested names), .avro.gz files, and the
 * errors for missing, empty or unknown paths.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { openFileSource } from "../../../simulator/replayer/sources.ts";
import { sharedData } from "../../shared_data.ts";
import { waitFor } from "../../support/wait.ts";

const LOCAL = sharedData("ztf", "alerts", "fink-broker-local-20200101");
const LOCAL_FILES = [...Deno.readDirSync(LOCAL)].map((e) => e.name).sort();

async function collect(path: string): Promise<Map<string, Uint8Array>> {
  const source = await openFileSource(path);
  const out = new Map<string, Uint8Array>();
  for await (const file of source.files()) {
    out.set(basename(file.name).replace(/\.gz$/, ""), file.bytes);
  }
  assert.equal(source.count, out.size);
  return out;
}

function assertSameAsLocal(files: Map<string, Uint8Array>) {
  assert.deepEqual([...files.keys()].sort(), LOCAL_FILES);
  for (const name of LOCAL_FILES) {
    assert.ok(
      Buffer.compare(files.get(name)!, Deno.readFileSync(join(LOCAL, name))) === 0,
      `${name} differs`,
    );
  }
}

async function tar(args: string[], cwd: string) {
  const result = await new Deno.Command("tar", { args, cwd, stderr: "piped" }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a real folder yields each .avro file's exact bytes in sorted order", async () => {
  const source = await openFileSource(LOCAL);
  assert.equal(source.count, 50);
  const names: string[] = [];
  for await (const file of source.files()) names.push(basename(file.name));
  assert.deepEqual(names, LOCAL_FILES);
  assertSameAsLocal(await collect(LOCAL));
});

Deno.test("a parent folder is searched recursively", async () => {
  const source = await openFileSource(sharedData("ztf", "alerts"));
  assert.ok(source.count > 250, `${source.count} files`);
});

for (const format of ["gnu", "pax", "ustar"]) {
  Deno.test(`${format} .tar and .tar.gz archives with long nested names yield the same bytes`, async () => {
    await withTempDir(async (dir) => {
      const nested = join(dir, "a".repeat(60), "b".repeat(60), "night-20200101");
      await Deno.mkdir(nested, { recursive: true });
      for (const name of LOCAL_FILES) await Deno.copyFile(join(LOCAL, name), join(nested, name));
      await Deno.writeTextFile(join(nested, "README.txt"), "not an alert");
      const tarPath = join(dir, "alerts.tar");
      await tar([`--format=${format}`, "-cf", tarPath, "a".repeat(60)], dir);
      assertSameAsLocal(await collect(tarPath));
      const gzPath = join(dir, "alerts.tar.gz");
      await Deno.writeFile(gzPath, gzipSync(await Deno.readFile(tarPath)));
      assertSameAsLocal(await collect(gzPath));
    });
  });
}

/** Whether this process holds `path` open (Linux: its descriptors under /proc/self/fd). */
function holdsOpen(path: string): boolean {
  return [...Deno.readDirSync("/proc/self/fd")].some((fd) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${fd.name}`) === path;
    } catch {
      return false; // closed while listed
    }
  });
}

Deno.test("stopping early closes the archive", async () => {
  await withTempDir(async (dir) => {
    const archive = join(await Deno.realPath(dir), "a.tgz");
    await tar(["-czf", archive, "-C", LOCAL, "."], dir);
    const source = await openFileSource(archive);
    // Cancelling the stream closes the file a few ticks later: there is no event for it.
    const closed = (when: string) =>
      waitFor(`the archive closed ${when}`, () => !holdsOpen(archive), { timeoutMs: 30_000 });
    await closed("after counting its files");
    let read = 0;
    for await (const _ of source.files()) {
      read++;
      assert.equal(holdsOpen(archive), true, "read as a stream while files are taken");
      break;
    }
    assert.equal(read, 1);
    await closed("after breaking out of the loop");
  });
});

Deno.test(".avro.gz files are gunzipped, in folders and as a single file", async () => {
  await withTempDir(async (dir) => {
    for (const name of LOCAL_FILES) {
      await Deno.writeFile(
        join(dir, `${name}.gz`),
        gzipSync(await Deno.readFile(join(LOCAL, name))),
      );
    }
    assertSameAsLocal(await collect(dir));
    const single = await collect(join(dir, `${LOCAL_FILES[0]}.gz`));
    assert.equal(single.size, 1);
  });
});

Deno.test("missing, empty, unknown and corrupt sources fail naming option source", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      openFileSource(join(dir, "nope")),
      /Source .*nope cannot be read \(option source\)/,
    );
    await assert.rejects(
      openFileSource(dir),
      /holds no \.avro or \.avro\.gz files \(option source\)/,
    );
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    await assert.rejects(
      openFileSource(join(dir, "notes.txt")),
      /neither a folder.*\(option source\)/,
    );
    await Deno.writeTextFile(join(dir, "bad.avro.gz"), "not gzip");
    const source = await openFileSource(join(dir, "bad.avro.gz"));
    await assert.rejects(source.files().next(), /ends in \.gz but is not gzip data/);
    await Deno.writeFile(
      join(dir, "cut.tar"),
      (await Deno.readFile(join(LOCAL, LOCAL_FILES[0]))).subarray(0, 1000),
    );
    await assert.rejects(openFileSource(join(dir, "cut.tar")), /cut\.tar/);
  });
});
