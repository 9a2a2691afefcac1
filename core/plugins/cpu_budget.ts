/**
 * The budget of one batch: the plugin process's own CPU time, read from /proc
 * every 100 ms while the batch is in flight, so a busy neighbour cannot make it
 * overrun. A wall-clock limit of ten budgets (at least 60 s) still ends a
 * process that waits forever without using CPU.
 */

/** How often the CPU time of a plugin busy with a batch is read. */
const CHECK_EVERY_MS = 100;
/** The wall-clock limit is this many budgets, and at least {@link MIN_WALL_MS}. */
const WALL_BUDGETS = 10;
const MIN_WALL_MS = 60_000;

/** Which limit a batch went past, and the CPU time it had used. */
export interface BudgetOverrun {
  limit: "cpu" | "wall";
  limitMs: number;
  cpuMs: number;
}

/** Options of {@link watchBudget}. */
export interface BudgetWatchOptions {
  /** CPU time the batch may use, in ms. */
  budgetMs: number;
  /** Called once the batch went past a limit; the watch has stopped by then. */
  onOverrun(overrun: BudgetOverrun): void;
}

/** A running watch over one batch. */
export interface BudgetWatch {
  /** Ends the watch (the batch's rows came back, or its process ended). */
  stop(): void;
}

/**
 * Watches the CPU time `process` uses from now on. `cpuMs` returns its CPU time
 * so far, null once it is gone (the process's end is reported elsewhere).
 */
export function watchBudget(
  process: { cpuMs(): number | null },
  options: BudgetWatchOptions,
): BudgetWatch {
  const cpuAtStart = process.cpuMs() ?? 0;
  const startedAt = performance.now();
  const wallMs = Math.max(WALL_BUDGETS * options.budgetMs, MIN_WALL_MS);
  const timer = setInterval(() => {
    const cpuMs = (process.cpuMs() ?? cpuAtStart) - cpuAtStart;
    const overrun: BudgetOverrun | undefined = cpuMs > options.budgetMs
      ? { limit: "cpu", limitMs: options.budgetMs, cpuMs }
      : performance.now() - startedAt > wallMs
      ? { limit: "wall", limitMs: wallMs, cpuMs }
      : undefined;
    if (overrun === undefined) return;
    clearInterval(timer);
    options.onOverrun(overrun);
  }, CHECK_EVERY_MS);
  return { stop: () => clearInterval(timer) };
}
