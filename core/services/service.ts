/**
 * A service is one thing the process runs: the archive, the simulator, the UI,
 * or a plugin. The manager starts and stops them by name.
 */

/** Life-cycle state of a service. */
export type ServiceState = "stopped" | "starting" | "running" | "stopping" | "failed";

/** What `status` shows of a service. */
export interface ServiceStatus {
  name: string;
  kind: "builtin" | "plugin";
  description: string;
  state: ServiceState;
  /** Last error, when the service failed or is retrying. */
  error?: string;
  /** Service-specific figures (rates, counts, lag ...). */
  details?: Record<string, unknown>;
}

/** One startable, stoppable part of the process. */
export interface Service {
  readonly name: string;
  readonly kind: "builtin" | "plugin";
  readonly description: string;
  /** Starts the service; resolves once it runs. */
  start(): Promise<void>;
  /** Stops the service cleanly; resolves once it stopped. */
  stop(): Promise<void>;
  /** Current figures, cheap to call every second. */
  details?(): Record<string, unknown>;
  /** The service's own view of its state, when something else (a plugin host) owns it. */
  state?(): { state: ServiceState; error?: string };
  /** True for a service that runs as long as the process and cannot be stopped alone. */
  readonly permanent?: boolean;
}
