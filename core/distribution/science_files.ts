/**
 * The science results that belong to one archived file: for every plugin
 * folder under the science root, the result files of the same event hour,
 * topic and partition whose offset range overlaps the file's. Results are
 * read back as the plugins wrote them (`science/<plugin>/<hour folder>/
 * <topic>+<partition>+<start>+<end>.parquet`, keyed by `id`, the hour folder
 * in the archive's layout).
 */
import { hourFolderOf, parseParquetName } from "../archive/file_names.ts";
import type { ArchivedFile } from "../archive/reader.ts";
import { StorageNotFoundError } from "../storage/errors.ts";
import type { Entry, Storage } from "../storage/storage.ts";

/** Result files of one plugin for one archived file. */
export interface ScienceFiles {
  plugin: string;
  /** Paths relative to the science root. */
  paths: string[];
}

/** The plugins that have a results folder under the science root (`_progress` and the like excluded). */
export async function sciencePlugins(science: Storage): Promise<string[]> {
  const entries = await listOrEmpty(science, "");
  return entries.filter((e) => e.isDirectory && !e.name.startsWith("_")).map((e) => e.name)
    .sort();
}

/** The result files of `plugins` that cover rows of `file`. */
export async function scienceFilesFor(
  science: Storage,
  plugins: readonly string[],
  file: ArchivedFile,
): Promise<ScienceFiles[]> {
  // Results go into the hour folder of the archive files their rows came from.
  const hourDir = hourFolderOf(file.topic, file.hourDir);
  const found: ScienceFiles[] = [];
  for (const plugin of plugins) {
    const entries = await listOrEmpty(science, `${plugin}/${hourDir}`);
    const paths = entries.filter((e) => {
      const name = e.isDirectory ? null : parseParquetName(e.name);
      return name !== null && name.topic === file.topic && name.partition === file.partition &&
        name.start <= file.endOffset && name.end >= file.startOffset;
    }).map((e) => e.path);
    found.push({ plugin, paths });
  }
  return found;
}

async function listOrEmpty(storage: Storage, dir: string): Promise<Entry[]> {
  try {
    return await storage.list(dir);
  } catch (error) {
    if (error instanceof StorageNotFoundError) return [];
    throw error;
  }
}
