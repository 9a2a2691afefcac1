/**
 * Storage faults an operator can clear (a read-only remount, a WebHDFS 403 with
 * Hadoop's Java stack trace) are retried for as long as they last and named in
 * their own status field on one line, while `connected` keeps meaning Kafka;
 * every received alert is archived, quarantined or in flight at every moment;
 * an error that cannot be retried marks the service `failed` and `start`
 * restarts it; after an idle restart every assigned partition shows lag 0.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../../core/config/mod.ts";
import { type ArchiveService, createArchiveService } from "../../core/archive/service.ts";
import { ServiceManager } from "../../core/services/manager.ts";
import { listAlertFiles } from "../../core/source/files.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { sharedData } from "../shared_data.ts";

import { WebHdfsTestServer } from "../support/webhdfs_server.ts";
import { waitFor } from "../support/wait.ts";

const LOCAL = "ztf/alerts/fink-broker-local-20200101";

/** Produces the 50 real alerts of LOCAL, or the first `limit`. */
async function produce(address: string, topic: string, limit = Infinity): Promise<number> {
  const kafka = new Kafka({ brokers: [address], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    const files = (await listAlertFiles(sharedData(LOCAL))).slice(0, limit);
    for (let i = 0; i < files.length; i += 10) {
      const values = await Promise.all(files.slice(i, i + 10).map((f) => Deno.readFile(f)));
      await producer.send({
        topic,
        acks: -1,
        messages: values.map((v) => ({ value: Buffer.from(v.buffer, v.byteOffset, v.length) })),
      });
    }
    return files.length;
  } finally {
    await producer.disconnect();
  }
}

async function createTopic(address: string, topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ brokers: [address], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
}

async function config(address: string, root: string, group: string) {
  return await loadConfig({
    file: null,
    env: {},
    sets: [
      `kafka.brokers=${address}`,
      "kafka.topics=ztf",
      `kafka.group=${group}`,
      `archive.root=${root}`,
      "batch.max_ms=50",
      "batch.max_alerts=10",
    ],
  });
}

interface Totals {
  received: number;
  archived: number;
  quarantined: number;
  inFlight: number;
}

function totals(service: ArchiveService): Totals {
  return service.details!().totals as Totals;
}

/** Asserts received = archived + quarantined + inFlight, per partition and in total. */
function assertBalanced(service: ArchiveService, when: string): void {
  const t = totals(service);
  assert.equal(
    t.received,
    t.archived + t.quarantined + t.inFlight,
    `${when}: ${JSON.stringify(t)}`,
  );
  for (const p of service.details!().partitions as (Totals & { partition: number })[]) {
    assert.equal(
      p.received,
      p.archived + p.quarantined + p.inFlight,
      `${when}: ${JSON.stringify(p)}`,
    );
  }
}

function storageProblem(service: ArchiveService): { message: string; retries: number } | null {
  return service.details!().storageProblem as { message: string; retries: number } | null;
}

/** Mounts a small tmpfs at a new folder, or returns null where mounting is not allowed. */
async function mountTmpfs(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "fink-ro-" });
  const out = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64m", "tmpfs", dir],
    stderr: "null",
    stdout: "null",
  }).output().catch(() => null);
  if (out?.success) return dir;
  await Deno.remove(dir);
  return null;
}

async function remount(dir: string, mode: "ro" | "rw"): Promise<void> {
  const out = await new Deno.Command("mount", { args: ["-o", `remount,${mode}`, dir] }).output();
  assert.ok(out.success, `remount ${mode} ${dir}: ${new TextDecoder().decode(out.stderr)}`);
}

const canMount = await (async () => {
  const dir = await mountTmpfs();
  if (dir === null) return false;
  await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir);
  return true;
})();

Deno.test({
  name: "a read-only remount is retried until it clears, named on one line, alerts all counted",
  ignore: !canMount,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = (await mountTmpfs())!;
    const broker = await startBroker({ port: 0, dataDir: null });
    await createTopic(broker.address, "ztf", 2);
    const service = createArchiveService(await config(broker.address, root, "read-only"));
    try {
      await service.start();
      const first = await produce(broker.address, "ztf", 20);
      await waitFor(
        "the first alerts",
        () => Promise.resolve(totals(service).archived === first ? true : undefined),
      );
      assertBalanced(service, "after the first alerts");

      await remount(root, "ro");
      const second = (await produce(broker.address, "ztf")) - 0;
      await waitFor(
        "the read-only storage named in the status",
        () => Promise.resolve(storageProblem(service) ?? undefined),
      );
      // While storage refuses writes, the alerts are received and in flight, never unaccounted.
      await waitFor(
        "every produced alert received",
        () => Promise.resolve(totals(service).received === first + second ? true : undefined),
      );
      assertBalanced(service, "while read-only");
      assert.ok(totals(service).inFlight > 0, "alerts wait in flight while read-only");
      const problem = storageProblem(service)!;
      assert.match(problem.message, /read-only|EROFS/i);
      assert.ok(!problem.message.includes("\n"), "one line");
      assert.equal(service.details!().connected, true, "Kafka is still connected");
      const retries = problem.retries;
      await waitFor(
        "more retries while it lasts",
        () => Promise.resolve((storageProblem(service)?.retries ?? 0) > retries ? true : undefined),
      );

      await remount(root, "rw");
      await waitFor(
        "every alert archived once storage is writable",
        () => Promise.resolve(totals(service).archived === first + second ? true : undefined),
        { timeoutMs: 60_000 },
      );
      assertBalanced(service, "after the remount");
      assert.equal(totals(service).inFlight, 0);
      assert.equal(storageProblem(service), null, "the problem clears");
    } finally {
      await service.stop();
      await broker.close();
      await new Deno.Command("umount", { args: [root] }).output();
      await Deno.remove(root, { recursive: true });
    }
  },
});

const JAVA_TRACE =
  'Permission denied: user=fink, access=WRITE, inode="/archive":hdfs:supergroup:drwxr-xr-x\n' +
  Array.from(
    { length: 30 },
    (_, i) =>
      `\tat org.apache.hadoop.hdfs.server.namenode.FSPermissionChecker.check${i}(FSPermissionChecker.java:${
        400 + i
      })`,
  ).join("\n");

Deno.test({
  name:
    "a WebHDFS 403 is retried, shown on one line without the Java trace, and Kafka stays connected",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hdfs = await WebHdfsTestServer.start();
    const broker = await startBroker({ port: 0, dataDir: null });
    await createTopic(broker.address, "ztf", 1);
    const service = createArchiveService(
      await config(broker.address, hdfs.url("/archive"), "forbidden"),
    );
    try {
      await service.start();
      hdfs.failNext(6, {
        status: 403,
        exception: "org.apache.hadoop.security.AccessControlException",
        message: JAVA_TRACE,
        ops: ["CREATE"],
      });
      const sent = await produce(broker.address, "ztf");
      const problem = await waitFor(
        "the 403 in the status",
        () => Promise.resolve(storageProblem(service) ?? undefined),
      );
      assert.match(problem.message, /HTTP 403 .*AccessControlException: Permission denied/);
      assert.ok(
        !problem.message.includes("\n") && !problem.message.includes("\tat "),
        problem.message,
      );
      assert.ok(problem.message.length < 500, `${problem.message.length} characters`);
      assert.equal(service.details!().connected, true, "connected means Kafka");
      await waitFor(
        "every alert archived once the 403s stop",
        () => Promise.resolve(totals(service).archived === sent ? true : undefined),
      );
      assertBalanced(service, "after the 403s");
      assert.equal(storageProblem(service), null);
    } finally {
      await service.stop();
      await broker.close();
      await hdfs.close();
    }
  },
});

Deno.test({
  name: "an error that cannot be retried marks the archive failed, and start restarts it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hdfs = await WebHdfsTestServer.start();
    const broker = await startBroker({ port: 0, dataDir: null });
    await createTopic(broker.address, "ztf", 1);
    const manager = new ServiceManager();
    const service = createArchiveService(
      await config(broker.address, hdfs.url("/archive"), "fails"),
      { onFailed: (reason) => manager.fail("archive", reason) },
    );
    manager.register(service);
    try {
      await manager.start("archive");
      hdfs.failNext(1, {
        status: 400,
        exception: "java.lang.IllegalArgumentException",
        message: "Injected bad request\n\tat org.apache.Foo.bar(Foo.java:1)",
        ops: ["CREATE"],
      });
      const sent = await produce(broker.address, "ztf");
      const failed = await waitFor(
        "the archive to show failed",
        () =>
          Promise.resolve(
            manager.status("archive").state === "failed" ? manager.status("archive") : undefined,
          ),
      );
      assert.match(failed.error ?? "", /Injected bad request/);
      assert.ok(!failed.error!.includes("\n"), "one line");

      await manager.start("archive");
      assert.equal(manager.status("archive").state, "running");
      await waitFor(
        "the alerts archived after the restart",
        () => Promise.resolve(totals(service).archived === sent ? true : undefined),
      );
    } finally {
      await manager.stopAll();
      await broker.close();
      await hdfs.close();
    }
  },
});

Deno.test({
  name: "after an idle restart every assigned partition shows lag 0",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "fink-idle-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    await createTopic(broker.address, "ztf", 3);
    const settings = await config(broker.address, root, "idle");
    let service = createArchiveService(settings);
    try {
      await service.start();
      const sent = await produce(broker.address, "ztf", 30);
      await waitFor(
        "the alerts archived",
        () => Promise.resolve(totals(service).archived === sent ? true : undefined),
      );
      await service.stop();

      service = createArchiveService(settings);
      await service.start();
      const lags = await waitFor("a lag for each of the 3 partitions", () => {
        const partitions = service.details!().partitions as { partition: number; lag: number }[];
        const known = partitions.filter((p) => p.lag !== null);
        return Promise.resolve(known.length === 3 ? known : undefined);
      });
      assert.deepEqual(
        lags.map((p) => [p.partition, p.lag]).sort(),
        [[0, 0], [1, 0], [2, 0]],
      );
    } finally {
      await service.stop();
      await broker.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
