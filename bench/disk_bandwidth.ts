/**
 * The disk's own fsync'd write bandwidth, in the folder the archive writes
 * to, for the archive's share of it: one large file written in 1 MB chunks
 * with a single fsync at the end (as `dd bs=1M count=1000 conv=fsync`), and
 * 1 MB files each fsynced (as a writer of many small files must).
 *
 * Run alone: `deno run -A bench/disk_bandwidth.ts [DIR]`.
 */
import { join } from "node:path";

/** Options of {@link measureDiskBandwidth}. */
export interface DiskBandwidthOptions {
  /** Megabytes of the sequential file (default 1,000, as the dd figure). */
  megabytes?: number;
  /** 1 MB files of the second figure (default 200). */
  files?: number;
}

/** What {@link measureDiskBandwidth} measured. */
export interface DiskBandwidth {
  /** One file, 1 MB writes, one fsync at the end: MB/s (10^6 bytes). */
  sequentialMBps: number;
  /** 1 MB files, each written then fsynced: MB/s. */
  smallFilesMBps: number;
  megabytes: number;
  files: number;
}

const MB = 1024 * 1024;

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await file.write(data.subarray(offset));
}

/** Measures the disk under `dir` (a folder on the archive's filesystem); leaves nothing behind. */
export async function measureDiskBandwidth(
  dir: string,
  options: DiskBandwidthOptions = {},
): Promise<DiskBandwidth> {
  const megabytes = options.megabytes ?? 1000;
  const files = options.files ?? 200;
  const chunk = new Uint8Array(MB);
  const work = await Deno.makeTempDir({ dir, prefix: "disk-bandwidth-" });
  try {
    let t0 = performance.now();
    const big = await Deno.open(join(work, "sequential"), { write: true, createNew: true });
    try {
      for (let i = 0; i < megabytes; i++) await writeAll(big, chunk);
      await big.sync();
    } finally {
      big.close();
    }
    const sequentialMBps = megabytes * MB / 1e6 / ((performance.now() - t0) / 1000);
    await Deno.remove(join(work, "sequential"));

    t0 = performance.now();
    for (let i = 0; i < files; i++) {
      const file = await Deno.open(join(work, `f${i}`), { write: true, createNew: true });
      try {
        await writeAll(file, chunk);
        await file.sync();
      } finally {
        file.close();
      }
    }
    const smallFilesMBps = files * MB / 1e6 / ((performance.now() - t0) / 1000);
    return {
      sequentialMBps: Math.round(sequentialMBps),
      smallFilesMBps: Math.round(smallFilesMBps),
      megabytes,
      files,
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? Deno.makeTempDirSync({ prefix: "fink-disk-" });
  console.log(JSON.stringify(await measureDiskBandwidth(dir), null, 2));
  if (Deno.args[0] === undefined) Deno.removeSync(dir, { recursive: true });
}
