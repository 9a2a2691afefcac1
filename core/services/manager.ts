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

/**
 * The statuses of every service taken at one instant: the list the API shows,
 * and each one typed by the service it belongs to.
 */
export class ServiceStatuses {
  readonly #byService: Map<Service, ServiceStatus>;

  /** The statuses in registration order, and by service. */
  constructor(readonly list: ServiceStatus[], byService: Map<Service, ServiceStatus>) {
    this.#byService = byService;
  }

  /** The status of `service` with its details as the service types them; undefined when unknown. */
  of<D>(service: Service<D>): ServiceStatus<D> | undefined {
    // Made from this very service's `details()`, whose type is `D`.
    return this.#byService.get(service as Service) as ServiceStatus<D> | undefined;
  }
}

/** Registry and life-cycle of the process's services. */
export class ServiceManager {
  #entries = new Map<string, Entry>();

  /** Adds (or replaces) a service, initially stopped. */
  register<D>(service: Service<D>): void {
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

  /** Status of every service at once, each readable typed by its service (see {@link ServiceStatuses}). */
  statuses(): ServiceStatuses {
    const byService = new Map<Service, ServiceStatus>();
    const list = [...this.#entries.values()].map((e) => {
      const status = this.#status(e);
      byService.set(e.service, status);
      return status;
    });
    return new ServiceStatuses(list, byService);
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
      const details = service.details();
      if (details !== undefined) status.details = details;
    }
    return status;
  }
}
