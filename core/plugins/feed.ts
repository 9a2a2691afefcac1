/**
 * Feeds stream plugins from the archive, exactly once per plugin.
 *
 * Each stream plugin keeps, per topic-partition, the next offset whose results
 * are not yet durable (`ProgressStore`), written only after the results of the
 * batch before it are. While a plugin is level with the archive, every batch
 * the archive commits is read back from its Parquet files (no second Avro
 * decode) and queued for it ("live"). A plugin that falls behind catches up
 * from the archived files with offsets at or past its progress, oldest first,
 * then goes live again:
 *
 * - at process start (a crash between the archive's commit and the results);
 * - after the plugin failed and restarted (the failed batch is retried; after
 *   `maxAttempts` failures in a row it is skipped and reported);
 * - when its queue is full (a live batch is never dropped: it is read later);
 * - after its results could not be written.
 *
 * A plugin that has never run here (no progress folder) starts at the archive's
 * current end: history is for batch plugins. A topic-partition that appears
 * later is read from its first offset. The archive never waits for a plugin.
 *
 * With several processes on one archive, each feeds only the partitions its
 * archive owns (`Ownership`): at every change of ownership it takes each
 * plugin's progress on those over (fencing the process that had it), so a
 * process that lost a partition can no longer land results for it; a batch's
 * results become visible with the progress record that covers them.
 */
import type { Fields } from "../log.ts";
import { type ArchivedFile, listArchivedFiles, readCommittedOffsets } from "../archive/reader.ts";
import { readCommittedOffset } from "../archive/ledger.ts";
import { Ownership } from "../archive/ownership.ts";
import { StorageNotFoundError } from "../storage/errors.ts";
import { FencedError } from "../storage/fenced_log.ts";
import type { Storage } from "../storage/storage.ts";
import type { ArchivedBatch } from "../archive/consumers.ts";
import { liveBatches } from "./archive_batches.ts";
import type { PluginBatch, PluginHost } from "./host.ts";
import type { ProgressSession, ProgressStore } from "./progress.ts";
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";
import { pumpFiles } from "./pump.ts";
import type { BatchTicket } from "./batch_queue.ts";
import { batchLabel } from "./failure_text.ts";
import type { ResultPublisher } from "./results.ts";
import type { PluginEvent } from "./runner.ts";

/** Options of {@link StreamFeed}. */
export interface StreamFeedOptions {
  host: PluginHost;
  /** The archive root. */
  archive: Storage;
  progress: ProgressStore;
  /** Rows per batch at most when reading archived files. */
  chunkRows: number;
  /** Failures in a row after which the batch a plugin fails on is skipped. Default 3. */
  maxAttempts?: number;
  /** Delay before catching up again after results could not be written. Default 1,000 ms. */
  retryMs?: number;
  /** The partitions fed here (this process's archive's); default: every partition. */
  ownership?: Ownership;
  /** Structured log of what the feed does. */
  log(message: string, fields: Fields): void;
}

/** Options of {@link StreamFeed.drain}. */
export interface DrainOptions {
  /** Checked at each poll: the wait gives up once it returns false (the plugin failed). */
  while?(): boolean;
}

/** What the feed shows of one plugin. */
export interface FeedStatus {
  /** "live", or "catching up" while it reads the archive. */
  mode: "live" | "catching up";
  /** Archived offsets whose results are not yet durable, per topic-partition. */
  behind: TopicPartitionMap<number>;
  /** Times it fell behind and caught up from the archive. */
  catchUps: number;
  /** Batches skipped after repeated failures. */
  skipped: number;
}

interface Cursor {
  tp: TopicPartition;
  /** Next offset to queue. */
  next: bigint;
  /** Next offset whose results are not durable. */
  durable: bigint;
  live: boolean;
}

interface PluginFeed {
  name: string;
  epoch: number;
  ready: boolean;
  cursors: TopicPartitionMap<Cursor>;
  /** This process's hold on the plugin's progress, per topic-partition of a cursor. */
  sessions: TopicPartitionMap<ProgressSession>;
  /** Where the plugin starts on a partition it has no progress for (see progress.ts). */
  start: TopicPartitionMap<bigint>;
  loop: Promise<void> | null;
  wake: boolean;
  /** Failures in a row of the batch that failed last (its {@link batchLabel}); other batches do not reset it. */
  failures: { key: string; count: number };
  catchUps: number;
  skipped: number;
  /**
   * Batches queued and not yet written, by {@link batchLabel}: the
   * progress once written, and where to resume when the batch is skipped.
   */
  tickets: Map<string, { tp: TopicPartition } & TicketProgress>;
  /** A skip being recorded, awaited before progress is read again. */
  pending: Promise<void>;
}

/** The progress a queued batch stands for. */
interface TicketProgress {
  /** The progress durable just before this batch, once the batches before it are written. */
  base: bigint;
  /** The progress once its results are durable. */
  after: bigint;
  /** Where the plugin resumes when this batch is skipped. */
  skipTo: bigint;
  /**
   * False once the batch is no longer wanted although its feed is current: one of the
   * batches of the same archived batch found no room, and the whole is read again.
   */
  wanted?: () => boolean;
}

/** Feeds the stream plugins of a host from the archive; see the module documentation. */
export class StreamFeed {
  #options: StreamFeedOptions;
  /** The archive's last committed offset per topic-partition. */
  #archived = new TopicPartitionMap<bigint>();
  #plugins = new Map<string, PluginFeed>();
  #initial: Promise<void>;
  #work = new Set<Promise<unknown>>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  #ownership: Ownership;
  /** Partitions a process took over from this one, left alone until ownership changes. */
  #lost = new TopicPartitionMap<true>();

  /** A feed over `options.archive`; it reads the committed offsets right away. */
  constructor(options: StreamFeedOptions) {
    this.#options = options;
    this.#ownership = options.ownership ?? new Ownership();
    this.#initial = this.#track(this.#readCommitted());
    this.#ownership.onChange(() => this.#reassign());
  }

  /** Pass every host event here: starts, failures and stops move the cursors. */
  onEvent(event: PluginEvent): void {
    if (this.#closed) return;
    const feed = this.#plugins.get(event.plugin);
    switch (event.event) {
      case "started":
        if (this.#isStream(event.plugin)) this.#track(this.#resume(event.plugin));
        return;
      case "error":
        if (feed !== undefined) this.#failed(feed, event);
        return;
      case "sink_error":
        if (feed !== undefined) {
          this.#invalidate(feed);
          this.#later(() => {
            if (this.#plugins.get(feed.name) === feed) this.#track(this.#resume(feed.name));
          });
        }
        return;
      case "stopped":
      case "removed":
      case "failed":
      case "loaded":
        if (feed !== undefined) {
          this.#invalidate(feed);
          this.#plugins.delete(event.plugin);
        }
        return;
    }
  }

  /** Hands a batch the archive has just committed to the plugins that are level with it. */
  async onArchived(batch: ArchivedBatch): Promise<void> {
    await this.#initial;
    const tp = { topic: batch.topic, partition: batch.partition };
    if (this.#closed || !this.#feeds(tp)) return;
    const known = this.#archived.get(tp);
    if (known === undefined || known < batch.endOffset) this.#archived.set(tp, batch.endOffset);
    const eligible: { feed: PluginFeed; cursor: Cursor; epoch: number }[] = [];
    for (const feed of this.#plugins.values()) {
      if (!feed.ready) {
        feed.wake = true;
        continue;
      }
      const cursor = feed.cursors.get(tp);
      if (cursor === undefined) {
        // A partition new to the plugin: its progress is taken over as it catches up.
        this.#kick(feed);
        continue;
      }
      if (batch.endOffset < cursor.next) continue;
      if (
        cursor.live && cursor.next === batch.startOffset && this.#options.host.hasRoom(feed.name)
      ) {
        eligible.push({ feed, cursor, epoch: feed.epoch });
      } else {
        cursor.live = false;
        this.#kick(feed);
      }
    }
    if (eligible.length === 0) return;
    const names = eligible.map((e) => e.feed.name);
    const statuses = this.#options.host.list().filter((p) => names.includes(p.name));
    const wanted = statuses.map((p) => this.#columnsOf(p.name));
    const columns = wanted.some((c) => c === undefined)
      ? undefined
      : [...new Set(wanted.flatMap((c) => c!))];
    let batches: PluginBatch[];
    try {
      batches = await liveBatches(this.#options.archive, batch, columns);
    } catch (error) {
      // The batch stays in the archive: the plugins read it again when they catch up.
      this.#options.log("reading an archived batch failed; plugins will catch up", {
        topic: batch.topic,
        partition: batch.partition,
        error: (error as Error).message,
      });
      for (const { feed, cursor } of eligible) {
        cursor.live = false;
        this.#kick(feed);
      }
      return;
    }
    for (const { feed, cursor, epoch } of eligible) {
      if (feed.epoch !== epoch || !cursor.live || cursor.next !== batch.startOffset) continue;
      // The batches of one archived batch (one per schema) are queued all or none: the
      // catch-up reads the whole again, and results from both would sit side by side
      // under other names.
      let queued = true;
      const wanted = () => queued;
      for (const [i, pluginBatch] of batches.entries()) {
        const end = batch.endOffset + 1n;
        if (
          !this.#send(feed, pluginBatch, {
            base: cursor.next,
            after: i === batches.length - 1 ? end : cursor.next,
            skipTo: end,
            wanted,
          })
        ) {
          queued = false;
          break;
        }
      }
      if (queued) {
        cursor.next = batch.endOffset + 1n;
        if (batches.length === 0) this.#saveIfIdle(feed, cursor);
      } else {
        cursor.live = false;
        this.#kick(feed);
      }
    }
  }

  /** Whether every active stream plugin (or the one named) is live and level with the archive. */
  caughtUp(name?: string): boolean {
    for (const plugin of this.#options.host.list()) {
      // A restarting plugin still has to catch up: only stopped and failed ones are left out.
      if (plugin.kind !== "stream" || plugin.state === "stopped" || plugin.state === "failed") {
        continue;
      }
      if (name !== undefined && plugin.name !== name) continue;
      const feed = this.#plugins.get(plugin.name);
      if (feed === undefined || !feed.ready || feed.loop !== null) return false;
      for (const [tp, committed] of this.#archived) {
        const cursor = feed.cursors.get(tp);
        if (cursor === undefined || !cursor.live || cursor.durable <= committed) return false;
      }
    }
    return true;
  }

  /** Status of one plugin's feed, or undefined when it is not fed. */
  status(name: string): FeedStatus | undefined {
    const feed = this.#plugins.get(name);
    if (feed === undefined) return undefined;
    const behind = new TopicPartitionMap<number>();
    let live = feed.ready && feed.loop === null;
    for (const [tp, committed] of this.#archived) {
      const cursor = feed.cursors.get(tp);
      behind.set(tp, Number(committed + 1n - (cursor?.durable ?? 0n)));
      if (cursor?.live !== true) live = false;
    }
    return {
      mode: live ? "live" : "catching up",
      behind,
      catchUps: feed.catchUps,
      skipped: feed.skipped,
    };
  }

  /**
   * Waits until the running stream plugins (or the one named) have durable
   * results for everything archived, or `timeoutMs` passed, or `options.while`
   * turned false; resolves whether they got there.
   */
  async drain(timeoutMs: number, name?: string, options: DrainOptions = {}): Promise<boolean> {
    await this.#initial;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.caughtUp(name)) return true;
      if (options.while?.() === false) return false;
      // A bounded poll: being level depends on queued batches, writes and catch-up loops alike.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.caughtUp(name);
  }

  /** Stops feeding; queued batches are dropped by their plugins as stale. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const feed of this.#plugins.values()) this.#invalidate(feed);
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  /**
   * The committed offset of every partition fed here: on the partitions this process's
   * archive owns, the last one whose files are in place (see {@link Ownership.inPlace});
   * without an archive here, the ledger's.
   */
  async #readCommitted(): Promise<void> {
    const owned = this.#ownership.owned();
    const found = owned === null
      ? await readCommittedOffsets(this.#options.archive)
      : owned.map((tp) => ({ ...tp, offset: this.#ownership.inPlace(tp) ?? -1n }))
        .filter((c) => c.offset >= 0n);
    const archived = new TopicPartitionMap<bigint>();
    for (const c of found) {
      // A batch handed on meanwhile may be past what was read: offsets only grow.
      const known = this.#archived.get(c) ?? -1n;
      if (this.#feeds(c)) archived.set(c, c.offset > known ? c.offset : known);
    }
    for (const [tp, committed] of this.#archived) {
      if (this.#feeds(tp) && !archived.has(tp)) archived.set(tp, committed);
    }
    this.#archived = archived;
  }

  /** Whether this process feeds the plugins `tp`'s batches (it owns it, nobody took it over). */
  #feeds(tp: TopicPartition): boolean {
    return this.#ownership.owns(tp) && !this.#lost.has(tp);
  }

  /** Ownership changed: every plugin is taken over again on the partitions owned now. */
  #reassign(): void {
    if (this.#closed) return;
    this.#lost.clear();
    const previous = this.#initial;
    this.#initial = this.#track(previous.then(() => this.#readCommitted()));
    for (const name of [...this.#plugins.keys()]) this.#track(this.#resume(name));
  }

  #isStream(name: string): boolean {
    return this.#options.host.list().some((p) => p.name === name && p.kind === "stream");
  }

  #columnsOf(name: string): string[] | undefined {
    return this.#options.host.list().find((p) => p.name === name)?.columns;
  }

  /** Reads a (re)started plugin's progress and catches it up. */
  async #resume(name: string): Promise<void> {
    await this.#initial;
    const old = this.#plugins.get(name);
    if (old !== undefined) {
      this.#invalidate(old);
      await old.pending;
    }
    if (this.#closed) return;
    const feed: PluginFeed = {
      name,
      epoch: (old?.epoch ?? 0) + 1,
      ready: false,
      cursors: new TopicPartitionMap(),
      sessions: new TopicPartitionMap(),
      start: new TopicPartitionMap(),
      loop: null,
      wake: false,
      failures: old?.failures ?? { key: "", count: 0 },
      catchUps: old?.catchUps ?? 0,
      skipped: old?.skipped ?? 0,
      tickets: new Map(),
      pending: Promise.resolve(),
    };
    this.#plugins.set(name, feed);
    const progress = this.#options.progress;
    let start = await progress.started(name);
    if (start === null) {
      // Never ran here: it starts where the archive is now, on every partition.
      const end = new TopicPartitionMap<bigint>();
      for (const c of await readCommittedOffsets(this.#options.archive)) {
        end.set(c, c.offset + 1n);
      }
      start = await progress.markStarted(name, end);
      this.#options.log("plugin starts at the archive's end", { plugin: name });
    }
    if (this.#plugins.get(name) !== feed) return;
    feed.start = start;
    for (const tp of this.#archived.keys()) {
      if (!await this.#adopt(feed, tp)) return;
    }
    if (this.#plugins.get(name) !== feed) return;
    feed.ready = true;
    this.#kick(feed);
  }

  /**
   * Takes over the plugin's progress on a partition and gives it a cursor there;
   * false when the feed moved on meanwhile (the plugin failed, ownership changed).
   */
  async #adopt(feed: PluginFeed, tp: TopicPartition): Promise<boolean> {
    if (feed.sessions.has(tp)) return true;
    const epoch = feed.epoch;
    const session = await this.#options.progress.acquire(feed.name, tp, feed.start.get(tp) ?? 0n);
    if (feed.epoch !== epoch || this.#plugins.get(feed.name) !== feed) return false;
    feed.sessions.set(tp, session);
    feed.cursors.set(tp, { tp, next: session.next, durable: session.next, live: false });
    return true;
  }

  #failed(feed: PluginFeed, event: PluginEvent): void {
    this.#invalidate(feed);
    const { topic, partition, startOffset, endOffset } = event;
    const key = topic === undefined || partition === undefined ? "(no batch)" : batchLabel({
      topic,
      partition,
      startOffset: startOffset ?? "",
      endOffset: endOffset ?? "",
    });
    feed.failures = { key, count: feed.failures.key === key ? feed.failures.count + 1 : 1 };
    const ticket = feed.tickets.get(key);
    if (feed.failures.count < (this.#options.maxAttempts ?? 3) || ticket === undefined) return;
    const session = feed.sessions.get(ticket.tp);
    feed.pending = this.#skip(feed, { key, ticket, session, error: event.message })
      .catch((error) =>
        this.#options.log("recording a skipped batch failed", {
          plugin: feed.name,
          error: (error as Error).message,
        })
      );
  }

  /**
   * Skips a batch that failed too often, once the results of the batches processed before
   * it are written: the progress moves past it only from where they left it, so none of
   * theirs is lost. When one of them could not be written, the batch is tried once more.
   */
  async #skip(
    feed: PluginFeed,
    skip: {
      key: string;
      ticket: { tp: TopicPartition } & TicketProgress;
      session: ProgressSession | undefined;
      error: string | undefined;
    },
  ): Promise<void> {
    const attempts = this.#options.maxAttempts ?? 3;
    await this.#options.host.written(feed.name);
    if (skip.session === undefined || skip.session.next !== skip.ticket.base) {
      feed.failures = { key: skip.key, count: attempts - 1 };
      return;
    }
    feed.failures = { key: "", count: 0 };
    feed.skipped++;
    this.#options.log("batch skipped after repeated failures", {
      plugin: feed.name,
      batch: skip.key,
      attempts,
      error: skip.error,
    });
    await skip.session.commit(skip.ticket.skipTo);
  }

  /** Makes every queued batch of the plugin stale; it catches up when it runs again. */
  #invalidate(feed: PluginFeed): void {
    feed.epoch++;
    feed.ready = false;
    for (const cursor of feed.cursors.values()) cursor.live = false;
  }

  #kick(feed: PluginFeed): void {
    feed.wake = true;
    if (feed.loop !== null || !feed.ready || this.#closed) return;
    feed.catchUps++;
    let failed = false;
    const loop = this.#catchUp(feed, feed.epoch).catch((error) => {
      failed = true;
      this.#options.log("catching up from the archive failed; retrying", {
        plugin: feed.name,
        error: (error as Error).message,
      });
    }).finally(() => {
      if (feed.loop !== loop) return;
      feed.loop = null;
      // A batch that arrived as the loop was ending asks for another round; a failure asks
      // for one a little later (the archive may have nothing new to wake it with).
      if (feed.wake && !failed) this.#kick(feed);
      else if (failed) this.#later(() => this.#kick(feed));
    });
    feed.loop = loop;
    this.#track(loop);
  }

  async #catchUp(feed: PluginFeed, epoch: number): Promise<void> {
    const stale = () => this.#closed || feed.epoch !== epoch;
    while (feed.wake) {
      feed.wake = false;
      for (const [tp, committed] of this.#archived) {
        if (!await this.#adopt(feed, tp) || stale()) return;
        const cursor = feed.cursors.get(tp)!;
        // Live but short of the archive: batches were committed while the plugin was not ready.
        if (cursor.live && cursor.next > committed) continue;
        cursor.live = false;
        while (!stale() && cursor.next <= (this.#archived.get(tp) ?? -1n)) {
          // A round that stopped short waits for the batch that wakes the feed again.
          if (!await this.#catchUpRound(feed, cursor, stale)) break;
        }
        if (stale()) return;
      }
      if (stale()) return;
    }
    for (const [tp, committed] of this.#archived) {
      const cursor = feed.cursors.get(tp);
      if (cursor !== undefined && cursor.next > committed) cursor.live = true;
    }
  }

  /**
   * Queues the archived files of a partition with offsets at or past the cursor, up to the
   * committed offset; resolves whether another round may go further.
   */
  async #catchUpRound(feed: PluginFeed, cursor: Cursor, stale: () => boolean): Promise<boolean> {
    let committed = this.#archived.get(cursor.tp) ?? -1n;
    const from = cursor.next;
    const list = () =>
      listArchivedFiles(this.#options.archive, cursor.tp.topic, { partition: cursor.tp.partition });
    let all = await list();
    const spans = (f: ArchivedFile) => f.endOffset > committed && f.startOffset <= committed;
    if (this.#ownership.owned() === null && all.some(spans)) {
      // No archive here hands batches on: the ledger says what was committed since, and the
      // files listed again after it hold every batch it counts whose files were renamed by
      // then (another process's rename under way at that moment is not seen from here).
      committed = await this.#committedNow(cursor.tp, committed);
      all = await list();
    }
    // A file merged from batches this process has not handed on yet reaches past the
    // committed offset: its rows past it would get results here and again from their own
    // batch. It is read once they are handed on (the last one wakes the feed), and so are
    // the files from its first offset on, so that the progress stops short of it.
    let end = committed + 1n;
    let waitsFor: ArchivedFile | undefined;
    for (const f of all) {
      if (spans(f) && f.startOffset < end) [end, waitsFor] = [f.startOffset, f];
    }
    if (waitsFor !== undefined) {
      this.#options.log("catching up waits for the batches a merged file holds", {
        plugin: feed.name,
        topic: cursor.tp.topic,
        partition: cursor.tp.partition,
        file: waitsFor.path,
        committed: String(committed),
      });
    }
    const files = all.filter((f) => f.endOffset >= from && f.startOffset < end)
      .sort((a, b) => (a.startOffset < b.startOffset ? -1 : a.startOffset > b.startOffset ? 1 : 0));
    if (files.length > 0) {
      this.#options.log("catching up from the archive", {
        plugin: feed.name,
        topic: cursor.tp.topic,
        partition: cursor.tp.partition,
        from: String(from),
        to: String(end - 1n),
        files: files.length,
      });
    }
    // Results are durable up to the first offset of the files still to read.
    const atLeastFrom = (offset: bigint) => (offset > from ? offset : from);
    const after = (i: number) => atLeastFrom(i + 1 < files.length ? files[i + 1].startOffset : end);
    try {
      await pumpFiles({
        archive: this.#options.archive,
        files,
        all,
        columns: this.#columnsOf(feed.name),
        chunkRows: this.#options.chunkRows,
        stale,
        send: (batch, at) =>
          this.#send(feed, batch, {
            base: at.batch > 0 || at.file === 0 ? from : after(at.file - 1),
            after: at.batch === at.batches - 1 ? after(at.file) : from,
            skipTo: after(at.file),
          }),
        // A plugin that stopped running has its feed invalidated by the event.
        room: async () => {
          await this.#options.host.ready(feed.name);
          return stale() || this.#runs(feed.name);
        },
        queued: (i, batches) => {
          cursor.next = after(i);
          if (batches === 0) this.#saveIfIdle(feed, cursor);
        },
      });
    } catch (error) {
      // Compaction merged a file since it was listed: the next round lists the merged one.
      if (error instanceof StorageNotFoundError) return true;
      throw error;
    }
    if (files.length === 0) {
      cursor.next = atLeastFrom(end);
      this.#saveIfIdle(feed, cursor);
    }
    return cursor.next > from;
  }

  /** The partition's committed offset read from the ledger again, kept as the feed's. */
  async #committedNow(tp: TopicPartition, known: bigint): Promise<bigint> {
    const now = await readCommittedOffset(this.#options.archive, tp);
    if (now <= known) return known;
    if (this.#feeds(tp) && (this.#archived.get(tp) ?? -1n) < now) this.#archived.set(tp, now);
    return now;
  }

  #runs(name: string): boolean {
    return this.#options.host.list().some((p) => p.name === name && p.state === "running");
  }

  /** Queues one batch for one plugin; false when its queue is full. */
  #send(
    feed: PluginFeed,
    batch: PluginBatch,
    progress: TicketProgress,
  ): boolean {
    if (!this.#options.host.hasRoom(feed.name)) return false;
    const report = this.#options.host.dispatch(batch, {
      to: [feed.name],
      ticket: () => this.#ticket(feed, batch, progress),
    });
    return report.queued.length > 0;
  }

  #ticket(
    feed: PluginFeed,
    batch: PluginBatch,
    progress: TicketProgress,
  ): BatchTicket {
    const epoch = feed.epoch;
    const tp = { topic: batch.topic, partition: batch.partition };
    const key = batchLabel(batch);
    feed.tickets.set(key, { tp, ...progress });
    const wanted = () => progress.wanted?.() ?? true;
    const current = () => !this.#closed && feed.epoch === epoch && wanted();
    const session = feed.sessions.get(tp)!;
    // The results appear with the progress record that covers them, or not at all.
    const publisher: ResultPublisher = {
      stage: (path) => session.stage(path),
      publish: async (files, removes) => {
        try {
          await session.commit(progress.after, {
            renames: files,
            removes,
            // A batch processed before its plugin failed lands when every batch before it did
            // (a skip of the failing batch waits for it); else it is read again. Asked at the
            // commit's turn: a catch-up's commit queued ahead of it may have covered it.
            onlyIf: () => current() || (wanted() && session.next === progress.base),
          });
        } catch (error) {
          // This process took the partition over again (its ownership changed): the newer
          // session reads the batch again from its progress, and this one's files are gone.
          if (error instanceof FencedError && (error.by.ours || this.#superseded(feed, session))) {
            return;
          }
          if (error instanceof FencedError) this.#takenOver(feed, tp, error);
          throw error;
        }
      },
    };
    return {
      current,
      publisher,
      written: () => {
        if (!current()) {
          feed.tickets.delete(key);
          return Promise.resolve();
        }
        // Batches before the failing one, written again after a restart, do not reset its count.
        if (feed.failures.key === key) feed.failures = { key: "", count: 0 };
        feed.tickets.delete(key);
        const cursor = feed.cursors.get(tp);
        if (cursor === undefined) return Promise.resolve();
        if (cursor.durable < progress.after) cursor.durable = progress.after;
        this.#saveIfIdle(feed, cursor);
        return Promise.resolve();
      },
    };
  }

  /**
   * Whether this process holds the partition's progress through a newer session than
   * `session` now, or is taking it over again: a commit of `session` fenced by another
   * process (which held it in between) says nothing of who holds it now.
   */
  #superseded(feed: PluginFeed, session: ProgressSession): boolean {
    return this.#plugins.get(feed.name)?.sessions.get(session.tp) !== session;
  }

  /**
   * Another process took a partition's progress over: left to it until ownership changes,
   * or for `retryMs`: when this process still owns the partition then, the other was on
   * its way out (a node leaving finishes its plugins' work on the partitions it had) or
   * died, and no change of ownership is coming: it takes the partition over again.
   */
  #takenOver(feed: PluginFeed, tp: TopicPartition, error: FencedError): void {
    if (this.#lost.has(tp)) return;
    this.#lost.set(tp, true);
    this.#archived.delete(tp);
    this.#options.log("fenced: another process took this partition's results over", {
      plugin: feed.name,
      topic: tp.topic,
      partition: tp.partition,
      error: error.message,
    });
    this.#later(() => {
      if (this.#lost.has(tp) && this.#ownership.owns(tp)) this.#reassign();
    });
  }

  /**
   * Records progress over offsets that gave no batch (quarantined alerts),
   * when no queued batch of the plugin would record it after its own results.
   */
  #saveIfIdle(feed: PluginFeed, cursor: Cursor): void {
    if (feed.tickets.size > 0 || cursor.durable >= cursor.next) return;
    const next = cursor.next;
    const tp = cursor.tp;
    const session = feed.sessions.get(tp);
    if (session === undefined) return;
    this.#track(
      session.commit(next).then(() => {
        if (cursor.durable < next) cursor.durable = next;
      }, (error) => {
        if (!(error instanceof FencedError)) throw error;
        if (!error.by.ours && !this.#superseded(feed, session)) this.#takenOver(feed, tp, error);
      }),
    );
  }

  /** Runs `retry` after `retryMs`, unless the feed closes first. */
  #later(retry: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) retry();
    }, this.#options.retryMs ?? 1000);
    this.#timers.add(timer);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    work.finally(() => this.#work.delete(work)).catch(() => {});
    return work;
  }
}
