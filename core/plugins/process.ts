/**
 * One plugin process as the host sees it: started with the plugin's own Deno
 * permission flags (sandbox.ts) and a V8 heap cap, spoken to in frames over
 * its stdin and stdout (frames.ts), its CPU time read from /proc, and its end
 * reported with the real cause (exit code, signal, heap limit reached).
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { encodeFrame, FrameTooLargeError, readFrames } from "./frames.ts";
import type { HostMessage, WorkerMessage } from "./protocol.ts";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
const STDERR_TAIL_BYTES = 8_192;
const STDERR_LINES_PER_SECOND = 20;
const CLOCK_TICKS_PER_SECOND = 100;

/** Why a plugin process ended, worded for an operator. */
export interface ProcessEnd {
  code: number;
  signal: string | null;
  /** e.g. "exited with code 3", "was killed by SIGKILL", "reached its heap limit of 512 MB". */
  cause: string;
}

/** Options of {@link PluginProcess.start}. */
export interface PluginProcessOptions {
  /** The plugin file. */
  file: string;
  /** `probe` reports the manifest and exits; `run` then waits for `setup` and batches. */
  mode: "probe" | "run";
  /** Deno flags from sandbox.ts (permissions, config, heap cap). */
  flags: string[];
  /** Working directory: the project root, against which the plugin's relative paths resolve. */
  cwd: string;
  /** The heap cap the flags set, for the report when it is reached. */
  memoryMb: number;
  /** Largest frame accepted from the process (its results), in bytes. */
  maxFrameBytes: number;
  onMessage(message: WorkerMessage, payload: Uint8Array): void;
  /** A frame larger than `maxFrameBytes` was announced; the process is killed after this. */
  onOversized(bytes: number): void;
  /** A line the plugin wrote to stderr (console output), rate-limited. */
  onStderr(line: string): void;
  /** Called once when the process has ended, unless {@link PluginProcess.kill} was called first. */
  onEnd(end: ProcessEnd): void;
}

/** A running plugin process; see the module documentation. */
export class PluginProcess {
  readonly pid: number;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #killed = false;
  #stderrTail = "";

  private constructor(child: Deno.ChildProcess, options: PluginProcessOptions) {
    this.#child = child;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    this.#writer.closed.catch(() => {});
    const reading = this.#read(options);
    const stderr = this.#readStderr(options);
    child.status.then(async (status) => {
      await Promise.all([reading, stderr]);
      if (this.#killed) return;
      this.#killed = true;
      options.onEnd({
        code: status.code,
        signal: status.signal,
        cause: this.#cause(status, options),
      });
    });
  }

  /** Starts a plugin process. */
  static start(options: PluginProcessOptions): PluginProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...options.flags, CHILD, pathToFileURL(options.file).href, options.mode],
      cwd: options.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new PluginProcess(child, options);
  }

  /** Sends one frame; a process that died meanwhile is reported by `onEnd`, not here. */
  send(message: HostMessage, payload?: Uint8Array): void {
    if (this.#killed) return;
    this.#writer.write(encodeFrame(message, payload)).catch(() => {});
  }

  /** CPU time (user + system) the process has used so far, in ms; null once it is gone. */
  cpuMs(): number | null {
    return processCpuMs(this.pid);
  }

  /** Kills the process (SIGKILL); `onEnd` is not called for it. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    this.#sigkill();
  }

  /** SIGKILL, whether or not the process has ended meanwhile. */
  #sigkill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  /** Resolves when the process has ended. */
  get ended(): Promise<void> {
    return this.#child.status.then(() => {});
  }

  async #read(options: PluginProcessOptions): Promise<void> {
    try {
      for await (
        const frame of readFrames<WorkerMessage>(this.#child.stdout, {
          maxBytes: options.maxFrameBytes,
        })
      ) {
        if (this.#killed) continue;
        options.onMessage(frame.message, frame.payload);
      }
    } catch (error) {
      if (this.#killed) return;
      if (error instanceof FrameTooLargeError) {
        options.onOversized(error.bytes);
        this.kill();
        return;
      }
      // Garbled output: the plugin wrote to stdout itself. It is ended and reported as such.
      this.#stderrTail += "\nthe process garbled its result stream (it wrote to stdout itself)";
      this.#sigkill();
    }
  }

  async #readStderr(options: PluginProcessOptions): Promise<void> {
    let second = 0;
    let lines = 0;
    let partial = "";
    for await (const text of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_BYTES);
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        const now = Math.floor(Date.now() / 1000);
        if (now !== second) [second, lines] = [now, 0];
        if (line.trim() === "" || ++lines > STDERR_LINES_PER_SECOND || this.#killed) continue;
        options.onStderr(line.length > 300 ? `${line.slice(0, 300)}…` : line);
      }
    }
  }

  #cause(status: Deno.CommandStatus, options: PluginProcessOptions): string {
    if (/heap limit|out of memory/i.test(this.#stderrTail)) {
      return `reached its heap limit of ${options.memoryMb} MB`;
    }
    if (this.#stderrTail.includes("garbled its result stream")) {
      return "garbled its result stream (it wrote to stdout itself) and was killed";
    }
    if (status.signal !== null) return `was killed by ${status.signal}`;
    // Deno's own report of an uncaught error is the plugin's own doing: it names the cause.
    const uncaught = /^error: (Uncaught .*)$/m.exec(this.#stderrTail)?.[1];
    const why = uncaught === undefined ? "" : ` (${uncaught.slice(0, 300)})`;
    return `exited with code ${status.code}${why}`;
  }
}

/** CPU time (user + system) process `pid` has used so far, in ms, from /proc; null once it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}
