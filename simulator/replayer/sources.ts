/**
 * Alert files to replay: a folder searched recursively, a single file, or a
 * `.tar`/`.tar.gz` archive, each holding `.avro` or `.avro.gz` Avro container files.
 */
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { readTar } from "./tar.ts";

/** One alert file: its name and its (gunzipped) container bytes. */
export interface AlertFile {
  /** Path of the file, or `archive:entry` inside a tar. */
  name: string;
  /** Avro container bytes, decompressed when the file was `.gz`. */
  bytes: Uint8Array;
}

/** A replayable set of alert files. */
export interface FileSource {
  /** The path given. */
  path: string;
  /** How many alert files the source holds. */
  count: number;
  /** The alert files in a stable order; each call starts from the first. */
  files(): AsyncGenerator<AlertFile>;
}

const ALERT_FILE = /\.avro(\.gz)?$/i;
const TAR_FILE = /\.(tar|tar\.gz|tgz)$/i;

function unpack(name: string, bytes: Uint8Array): AlertFile {
  if (!name.toLowerCase().endsWith(".gz")) return { name, bytes };
  try {
    return { name, bytes: new Uint8Array(gunzipSync(bytes)) };
  } catch (error) {
    throw new Error(
      `Alert file ${name} ends in .gz but is not gzip data (${(error as Error).message})`,
    );
  }
}

async function listAlertFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await visit(path);
      else if (ALERT_FILE.test(entry.name)) found.push(path);
    }
  };
  await visit(folder);
  return found.sort();
}

function folderSource(path: string, paths: string[]): FileSource {
  return {
    path,
    count: paths.length,
    async *files() {
      for (const file of paths) yield unpack(file, await Deno.readFile(file));
    },
  };
}

async function tarStream(path: string): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path);
  const head = new Uint8Array(2);
  const read = await file.read(head);
  await file.seek(0, Deno.SeekMode.Start);
  const gzipped = read === 2 && head[0] === 0x1f && head[1] === 0x8b;
  return gzipped
    ? file.readable.pipeThrough(new DecompressionStream("gzip")) as ReadableStream<Uint8Array>
    : file.readable;
}

async function* tarEntries(path: string): AsyncGenerator<AlertFile> {
  for await (const entry of readTar(await tarStream(path), path)) {
    if (ALERT_FILE.test(entry.name)) yield unpack(`${path}:${entry.name}`, entry.data);
  }
}

/** Counting needs one pass over the archive, done once at open. */
async function tarSource(path: string): Promise<FileSource> {
  let count = 0;
  for await (const _ of tarEntries(path)) count++;
  return { path, count, files: () => tarEntries(path) };
}

/**
 * Opens the source at `path`. Throws a one-line error naming option `source` when the
 * path is missing, of an unknown kind, or holds no alert files.
 */
export async function openFileSource(path: string): Promise<FileSource> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new Error(
      `Source ${path} cannot be read (option source): ${
        (error as Error).message
      }; give a folder or .tar/.tar.gz of .avro files, or "synthetic"`,
    );
  }
  if (info.isDirectory) {
    const paths = await listAlertFiles(path);
    if (paths.length === 0) {
      throw new Error(
        `Source folder ${path} holds no .avro or .avro.gz files (option source); point it at alert files or use "synthetic"`,
      );
    }
    return folderSource(path, paths);
  }
  if (TAR_FILE.test(path)) {
    const source = await tarSource(path);
    if (source.count === 0) {
      throw new Error(
        `Source archive ${path} holds no .avro or .avro.gz files (option source); point it at alert files or use "synthetic"`,
      );
    }
    return source;
  }
  if (ALERT_FILE.test(path)) return folderSource(path, [path]);
  throw new Error(
    `Source ${path} is neither a folder, a .tar/.tar.gz/.tgz archive nor an .avro/.avro.gz file (option source)`,
  );
}
