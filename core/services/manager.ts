/**
 * Keeps the services of the process by name and tracks their state, so the CLI
 * and the API can start, stop and list them.
 */
import type { Service, ServiceState, ServiceStatus } from "./service.ts";

/** Thrown when a service cannot do what was asked (e.g. stop the ui alone). */
export class ServiceRefusedError extends Error {
  override name = "ServiceRefusedError";
}

/** Thrown when a name matches no service; the message lists those that exist. */
export class UnknownServiceError extends Error {
  override name = "UnknownServiceError";
}

interface Entry {
  service: Service;
  state: ServiceState;
  error?: string;
}

/** Registry and life-cycle of the process's services. */
export class ServiceManager {
  #entries = new Map<string, Entry>();

  /** Adds (or replaces) a service, initially stopped. */
  register(service: Service): void {
    this.#entries.set(service.name, { service, state: "stopped" });
  }

  /** Removes a service after stopping it. */
  async unregister(name: string): Promise<void> {
    if (!this.#entries.has(name)) return;
    await this.stop(name);
    this.#entries.delete(name);
  }

  /** Names of every registered service. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** Whether a service is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** Starts a service by name; starting a running one does nothing. */
  async start(name: string): Promise<ServiceStatus> {
    const entry = this.#entry(name);
    const current = entry.service.state?.().state ?? entry.state;
    if (current === "running" || current === "starting") return this.#status(entry);
    entry.state = "starting";
    entry.error = undefined;
    try {
      await entry.service.start();
      entry.state = "running";
    } catch (e) {
      entry.state = "failed";
      entry.error = (e as Error).message;
      throw e;
    }
    return this.#status(entry);
  }

  /** Stops a service by name; stopping a stopped one does nothing. */
  async stop(name: string): Promise<ServiceStatus> {
    const entry = this.#entry(name);
    if (entry.service.permanent) {
      throw new ServiceRefusedError(
        `${name} runs as long as the process; \`deno task stop\` stops the process`,
      );
    }
    const current = entry.service.state?.().state ?? entry.state;
    if (current === "stopped" || current === "stopping") return this.#status(entry);
    entry.state = "stopping";
    try {
      await entry.service.stop();
      entry.state = "stopped";
    } catch (e) {
      entry.state = "failed";
      entry.error = (e as Error).message;
      throw e;
    }
    return this.#status(entry);
  }

  /** Marks a running service as failed (it reported an error it cannot recover from). */
  fail(name: string, error: string): void {
    const entry = this.#entry(name);
    entry.state = "failed";
    entry.error = error;
  }

  /** Stops every running service, in reverse order of registration. */
  async stopAll(): Promise<void> {
    for (const [name, entry] of [...this.#entries].reverse()) {
      if (!entry.service.permanent) await this.stop(name).catch(() => {});
    }
  }

  /** Status of one service. */
  status(name: string): ServiceStatus {
    return this.#status(this.#entry(name));
  }

  /** Status of every service. */
  list(): ServiceStatus[] {
    return [...this.#entries.values()].map((e) => this.#status(e));
  }

  #entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry === undefined) {
      throw new UnknownServiceError(
        `Unknown service "${name}"; services are: ${this.names().join(", ")}`,
      );
    }
    return entry;
  }

  #status(entry: Entry): ServiceStatus {
    const { service } = entry;
    const own = service.state?.();
    const status: ServiceStatus = {
      name: service.name,
      kind: service.kind,
      description: service.description,
      state: own?.state ?? entry.state,
    };
    const error = own !== undefined ? own.error : entry.error;
    if (error !== undefined) status.error = error;
    if (service.details !== undefined && status.state !== "stopped") {
      status.details = service.details();
    }
    return status;
  }
}
