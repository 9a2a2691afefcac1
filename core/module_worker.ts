/**
 * A module Worker whose replies and failures each reach one callback: an
 * uncaught error inside it or a reply that cannot be deserialised is a crash
 * (the encoder pools replace the Worker and fail the job it held).
 */

/** What a {@link startModuleWorker} Worker reports. */
export interface ModuleWorkerHandlers<T> {
  message(data: T): void;
  crash(reason: string): void;
}

/** Starts the module Worker at `url`. */
export function startModuleWorker<T>(url: string, handlers: ModuleWorkerHandlers<T>): Worker {
  const worker = new Worker(url, { type: "module" });
  worker.onmessage = (event: MessageEvent<T>) => handlers.message(event.data);
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    handlers.crash(event.message);
  };
  worker.onmessageerror = () => handlers.crash("a result could not be deserialised");
  return worker;
}
