/**
 * A service is one thing the process runs: the archive, the simulator, the UI,
 * or a plugin. The manager starts and stops them by name. Each kind of service
 * declares the type of its details (its figures); whoever reads them typed
 * (the metrics, the API) asks for them by the service, not by guessing a shape.
 */

/** Life-cycle state of a service. */
export type ServiceState = "stopped" | "starting" | "running" | "stopping" | "failed";

/** What `status` shows of a service; `D` is the type of its details. */
export interface ServiceStatus<D = unknown> {
  name: string;
  kind: "builtin" | "plugin";
  description: string;
  state: ServiceState;
  /** Last error, when the service failed or is retrying. */
  error?: string;
  /** Service-specific figures (rates, counts, lag ...), absent while it is stopped. */
  details?: D;
}

/** One startable, stoppable part of the process; `D` is the type of its details. */
export interface Service<D = unknown> {
  readonly name: string;
  readonly kind: "builtin" | "plugin";
  readonly description: string;
  /** Starts the service; resolves once it runs. */
  start(): Promise<void>;
  /** Stops the service cleanly; resolves once it stopped. */
  stop(): Promise<void>;
  /** Current figures, cheap to call every second; undefined when there are none. */
  details?(): D | undefined;
  /** The service's own view of its state, when something else (a plugin host) owns it. */
  state?(): { state: ServiceState; error?: string };
  /** True for a service that runs as long as the process and cannot be stopped alone. */
  readonly permanent?: boolean;
}
