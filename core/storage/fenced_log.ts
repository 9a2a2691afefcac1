/**
 * A fenced commit log: for one key (an archive topic-partition, one plugin's
 * progress on one), a chain of numbered records in the storage that holds the
 * data, shared by every process that may write it. Only the current owner's
 * commits land, whatever the others still have in flight.
 *
 * - `<dir>/<slot, 20 digits>.json`: each record is created with
 *   {@link Storage.createIfAbsent}, which of any number of writers lets one
 *   win; a record carries the state after it (a committed offset) and the
 *   renames and removals that make its files visible, so the latest record
 *   alone says where the key stands (a redo log).
 * - A writer works in a session. {@link openSession} claims the next slot with
 *   a fence record, then completes the records before it (renames whose
 *   temporary file is still there, removals) and deletes what older sessions
 *   left staged. A session commits at its own next slot: when that slot is
 *   taken, someone fenced it, the commit fails with {@link FencedError} and
 *   none of its files become visible. Its temporary files are its own
 *   (`<staging>/<fence slot>-<writer>/`), so nobody else's name is ever
 *   touched by it.
 * - Why a paused writer cannot land a commit: it only ever creates the slot
 *   after its last own record. The next owner fenced at one past the last
 *   record it listed, so that slot is either the paused writer's next one
 *   (taken by the fence) or already behind it. Fence records are never
 *   deleted; a commit record is deleted by its session once the next one is
 *   written (everything it said is in the next), or by the next owner once
 *   completed, so the folder stays small. Deleted records free their slots:
 *   an owner that commits twice between a newcomer's listing and its fence
 *   has freed the slot the fence takes. So a fence holds only when no later
 *   slot exists once it is written (a record is deleted only after a later
 *   one exists, so one always shows); else it is left behind, fencing nobody,
 *   and the newcomer fences again at the head.
 * - On HDFS a record whose writer died while creating it can be left partial:
 *   it fails to parse and counts as a claimed slot that holds nothing.
 */
import { StorageError } from "./errors.ts";
import { parentPath } from "./path.ts";
import type { Storage } from "./storage.ts";

/** Who holds a session, as the records name it (for the logs of the one it fences). */
export interface Owner {
  /** The consumer group member id, when the process is in a group. */
  member: string | null;
  host: string;
  pid: number;
}

/** This process as an owner, before it knows its group member id. */
export function thisProcess(): Owner {
  return { member: null, host: Deno.hostname(), pid: Deno.pid };
}

/** A staged file and the name it takes once its record is committed. */
export interface Rename {
  from: string;
  to: string;
}

/** One record of a log. */
export interface LogRecord<S> {
  kind: "fence" | "commit";
  /** The session that wrote it: `<fence slot>-<writer id>`. */
  session: string;
  owner: Owner;
  /** The key's state after this record. */
  state: S;
  renames: Rename[];
  /** Files removed once the renames are done (files a compaction merged...). */
  removes: string[];
  at: string;
}

/** Who took the slot a session needed. */
export interface FencedBy {
  slot: number;
  /** The record there; null when it is unreadable (its writer died while creating it). */
  record: LogRecord<unknown> | null;
  /** True when the slot was taken by a newer session of this same process. */
  ours: boolean;
}

/** A commit refused because another session holds the key now. */
export class FencedError extends Error {
  /** Builds the error for `dir`, naming who fenced it. */
  constructor(readonly dir: string, readonly by: FencedBy) {
    const who = by.record === null
      ? "a writer whose record is unreadable"
      : `${
        by.record.owner.member ?? "a process"
      } (host ${by.record.owner.host}, pid ${by.record.owner.pid})`;
    super(
      `${dir}: fenced at record ${by.slot} by ${who}${
        by.ours ? ", a newer session of this process" : ""
      }; this session can no longer commit`,
    );
    this.name = "FencedError";
  }
}

/** Options of {@link openSession}. */
export interface FencedLogOptions<S> {
  /** Folder of the records, e.g. `_ledger/ztf+3`. */
  dir: string;
  /** Folder under which each session stages its files, e.g. `_staging/ztf+3`. */
  staging: string;
  owner: Owner;
  /**
   * The state when the log has no record yet (a key new, or written by an earlier
   * version: this may first complete or undo what that version left).
   */
  initial(): Promise<S>;
  /**
   * This process's writer id (letters and digits): its sessions are named after it, so a
   * commit fenced by a newer session of the same writer says so. Default: one of its own.
   */
  writer?: string;
}

const SLOT_DIGITS = 20;
const RECORD = /^(\d{20})\.json$/;
const SESSION = /^(\d{20})-[0-9a-z]+$/;

/** A fresh writer id: what {@link FencedLogOptions.writer} takes. */
export function newWriterId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

function slotPath(dir: string, slot: number): string {
  return `${dir}/${String(slot).padStart(SLOT_DIGITS, "0")}.json`;
}

/** The record slots present in `dir`, ascending. */
async function slots(storage: Storage, dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await storage.list(dir)) {
    const m = RECORD.exec(entry.name);
    if (m !== null && !entry.isDirectory) found.push(Number(m[1]));
  }
  return found.sort((a, b) => a - b);
}

/** A record, or null when it is missing or partial. */
async function readRecord<S>(
  storage: Storage,
  dir: string,
  slot: number,
): Promise<LogRecord<S> | null> {
  let bytes: Uint8Array;
  try {
    bytes = await storage.readFile(slotPath(dir, slot));
  } catch (error) {
    if (error instanceof StorageError && error.kind === "not-found") return null;
    throw error;
  }
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    return typeof parsed?.kind === "string" && typeof parsed.session === "string" ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * The latest readable record of a log and its slot, or null when it has none;
 * for readers of the key's state (they never write).
 */
export async function latestRecord<S>(
  storage: Storage,
  dir: string,
): Promise<{ slot: number; record: LogRecord<S> } | null> {
  // A commit record can be deleted between the listing and the read once a newer one
  // exists: listing again finds that one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const present = await slots(storage, dir);
    let vanished = false;
    for (let i = present.length - 1; i >= 0; i--) {
      const record = await readRecord<S>(storage, dir, present[i]);
      if (record !== null) return { slot: present[i], record };
      if (await storage.stat(slotPath(dir, present[i])) === null) {
        vanished = true;
        break;
      }
    }
    if (!vanished) return null;
  }
  throw new StorageError("other", `${dir}: records kept vanishing while being read`, {
    op: "latestRecord",
    path: dir,
  });
}

/**
 * Removes an older session's staging folder. That session may still be writing into it
 * (it does not know yet that it was fenced), which can make the removal find the folder
 * not empty: tried a few times, then left for the key's next owner (nothing reads it).
 */
async function removeStaged(storage: Storage, path: string): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await storage.remove(path, { recursive: true });
    } catch (error) {
      if (!(error instanceof StorageError && error.kind === "invalid")) throw error;
    }
  }
}

/**
 * Makes a record's files visible: renames still pending, then removals. Idempotent, and
 * safe while another process completes the same record (never replacing a destination:
 * one moved into place by the other would be deleted).
 */
async function complete(storage: Storage, record: LogRecord<unknown>): Promise<void> {
  for (const { from, to } of record.renames) {
    try {
      await storage.rename(from, to, { replace: false, deferFolderSync: true });
    } catch (error) {
      // Done already, by its own session or by another owner completing it.
      const done = error instanceof StorageError &&
        (error.kind === "not-found" || error.kind === "already-exists");
      if (!done) throw error;
    }
  }
  // One fsync per folder the renames changed, before the record can be deleted.
  const folders = record.renames.flatMap(({ from, to }) => [parentPath(from), parentPath(to)]);
  await storage.syncFolders(folders);
  for (const path of record.removes) await storage.remove(path);
}

function encode(record: LogRecord<unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/**
 * Takes over a key: fences every earlier session, completes their committed
 * records, deletes what they left staged, and returns the new session with
 * the key's state.
 */
export async function openSession<S>(
  storage: Storage,
  options: FencedLogOptions<S>,
): Promise<LogSession<S>> {
  const writer = options.writer ?? newWriterId();
  for (;;) {
    const present = await slots(storage, options.dir);
    const last = present.length === 0 ? -1 : present[present.length - 1];
    let prior: LogRecord<S> | null = null;
    for (let i = present.length - 1; i >= 0 && prior === null; i--) {
      prior = await readRecord<S>(storage, options.dir, present[i]);
    }
    const state = prior?.state ?? await options.initial();
    const slot = last + 1;
    const session = `${String(slot).padStart(SLOT_DIGITS, "0")}-${writer}`;
    const fence: LogRecord<S> = {
      kind: "fence",
      session,
      owner: options.owner,
      state,
      renames: [],
      removes: [],
      at: new Date().toISOString(),
    };
    // Lost to another writer (an owner still committing, or another taking over): look again.
    if (!await storage.createIfAbsent(slotPath(options.dir, slot), encode(fence))) continue;
    // The slot was free because its record was deleted since the listing: the owner went on
    // committing past it, so this fence is behind the head and fences nobody. A commit record
    // is deleted only once a later one exists, so a later slot shows it: look again.
    if ((await slots(storage, options.dir)).some((s) => s > slot)) continue;
    for (const earlier of present) {
      const record = await readRecord<S>(storage, options.dir, earlier);
      if (record?.kind !== "commit") continue;
      await complete(storage, record);
      await storage.remove(slotPath(options.dir, earlier));
    }
    for (const entry of await storage.list(options.staging)) {
      const m = SESSION.exec(entry.name);
      if (m !== null && Number(m[1]) < slot) await removeStaged(storage, entry.path);
    }
    return new LogSession(storage, { ...options, slot, session, state });
  }
}

/** What a commit changes. */
export interface Change<S> {
  /**
   * The key's state after it, from the state before it. Commits queue behind those in
   * flight, so it is called when this one runs, with the state the earlier ones left (one
   * computed at the call would undo them). Default: unchanged (a commit that only moves files).
   */
  state?: (current: S) => S;
  /** Staged files (from {@link LogSession.stage}) and their final names. */
  renames?: Rename[];
  /**
   * Files to remove once the renames are done; as a function, called when the commit runs
   * (a list made from a folder's listing before would miss what commits queued ahead add).
   */
  removes?: string[] | (() => Promise<string[]>);
  /**
   * Whether the commit is still wanted, asked when it runs (after the commits queued ahead
   * of it): when false, its staged files are removed and nothing is committed.
   */
  onlyIf?: () => boolean;
}

/** One owner's hold on a key; see the module documentation. Commits run one at a time. */
export class LogSession<S> {
  /** `<fence slot>-<writer id>`, unique to this session. */
  readonly id: string;
  /** The slot of the fence that opened it. */
  readonly fenceSlot: number;
  /** Folder this session stages its files in. */
  readonly stagingDir: string;
  #storage: Storage;
  #options: FencedLogOptions<S>;
  #state: S;
  #next: number;
  #staged = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #fenced: FencedError | null = null;
  /** A record of this session whose renames or removals failed: finished before the next commit. */
  #incomplete: LogRecord<S> | null = null;

  /** Use {@link openSession}. */
  constructor(
    storage: Storage,
    options: FencedLogOptions<S> & { slot: number; session: string; state: S },
  ) {
    this.#storage = storage;
    this.#options = options;
    this.id = options.session;
    this.fenceSlot = options.slot;
    this.#next = options.slot + 1;
    this.#state = options.state;
    this.stagingDir = `${options.staging}/${options.session}`;
  }

  /** The key's state as of this session's last commit. */
  get state(): S {
    return this.#state;
  }

  /** Why this session can no longer commit, once a commit was fenced; else null. */
  get fenced(): FencedError | null {
    return this.#fenced;
  }

  /** A temporary path of this session for a file that will be named `path`. */
  stage(path: string): string {
    return `${this.stagingDir}/${this.#staged++}-${path.slice(path.lastIndexOf("/") + 1)}`;
  }

  /**
   * Commits a change at the session's next slot, then makes its files visible.
   * Resolves false when its `onlyIf` said no. Throws {@link FencedError} (after
   * removing the change's staged files) when another session holds the key now.
   */
  commit(change: Change<S>): Promise<boolean> {
    const run = this.#chain.then(() => this.#commit(change));
    this.#chain = run.catch(() => {});
    return run;
  }

  /**
   * Looks whether another session holds the key: then the slot this session would
   * commit at is taken (by the fence that ended it, which is never deleted). For a
   * writer whose staged files vanished (the next owner deletes what older sessions
   * staged): resolves to the error its commit would have, or null.
   */
  async fencedNow(): Promise<FencedError | null> {
    if (this.#fenced !== null) return this.#fenced;
    const slot = this.#next;
    if (await this.#storage.stat(slotPath(this.#options.dir, slot)) === null) return null;
    const holder = await readRecord(this.#storage, this.#options.dir, slot);
    const writer = this.id.slice(this.id.indexOf("-") + 1);
    this.#fenced = new FencedError(this.#options.dir, {
      slot,
      record: holder,
      ours: holder !== null && holder.session.endsWith(`-${writer}`),
    });
    return this.#fenced;
  }

  /** Removes staged files of a change that will not be committed. */
  async discard(renames: readonly Rename[]): Promise<void> {
    for (const { from } of renames) await this.#storage.remove(from);
  }

  async #commit(change: Change<S>): Promise<boolean> {
    const renames = change.renames ?? [];
    if (this.#fenced !== null) {
      await this.discard(renames);
      throw this.#fenced;
    }
    // The next commit deletes the previous record: what that record said must be done first.
    if (this.#incomplete !== null) {
      await complete(this.#storage, this.#incomplete);
      this.#incomplete = null;
    }
    if (change.onlyIf?.() === false) {
      await this.discard(renames);
      return false;
    }
    const removes = typeof change.removes === "function"
      ? await change.removes()
      : change.removes ?? [];
    const slot = this.#next;
    const record: LogRecord<S> = {
      kind: "commit",
      session: this.id,
      owner: this.#options.owner,
      state: change.state?.(this.#state) ?? this.#state,
      renames,
      removes,
      at: new Date().toISOString(),
    };
    const path = slotPath(this.#options.dir, slot);
    if (!await this.#storage.createIfAbsent(path, encode(record))) {
      const error = (await this.fencedNow())!;
      await this.discard(renames);
      throw error;
    }
    this.#next = slot + 1;
    this.#state = record.state;
    // Set first: should the removal below fail, the next commit still completes this record.
    this.#incomplete = record;
    // Everything the previous commit said is in this one, and it was completed before.
    if (slot - 1 > this.fenceSlot) {
      await this.#storage.remove(slotPath(this.#options.dir, slot - 1));
    }
    await complete(this.#storage, record);
    this.#incomplete = null;
    return true;
  }
}

/**
 * A typed hold on one key through a session: what the archive's ledger and the
 * plugins' progress are built on (each adds the commits its records make).
 */
export class LogHold<S> {
  /** Holds `session`. */
  constructor(readonly session: LogSession<S>) {}

  /** Why this hold ended, once a commit was fenced; else null. */
  get fenced(): FencedError | null {
    return this.session.fenced;
  }

  /** The error a commit would have now, if another process took the key over. */
  fencedNow(): Promise<FencedError | null> {
    return this.session.fencedNow();
  }

  /** Where to write a file that will be named `path` once committed. */
  stage(path: string): string {
    return this.session.stage(path);
  }

  /** Removes staged files that will not be committed. */
  async discard(renames: readonly Rename[]): Promise<void> {
    await this.session.discard(renames);
  }
}
