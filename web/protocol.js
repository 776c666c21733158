// The message protocol between the page and its model workers (web/worker.js). A request is
// `{id, kind, payload}` (the page transfers large buffers rather than copying them); the
// answer is `{id, result}` or `{id, error: {name, message}, fatal}`. An error keeps its `name`
// across the crossing — `InputError` (the user's file or request), `DeviceError` (the GPU
// failed), `WorkerError` (the worker died), `CancelledError` (a newer request replaced this
// one) — so that the page decides by kind: fall back to the CPU on a DeviceError only, restart
// a worker on a fatal one.

/// An `Error` with the given `name`.
export function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

const plain = (error) => ({
  name: error?.name ?? "Error",
  message: error instanceof Error ? error.message : String(error),
});

/// The page's side of one worker: requests as Promises, answered in any order by id. When the
/// worker dies (an uncaught error, a message that cannot be read, or a fatal answer) every
/// pending request is rejected with a `WorkerError` and `onDeath(reason)` runs once.
export class Channel {
  constructor(worker, onDeath) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 1;
    this.dead = false;
    this.onDeath = onDeath;
    worker.addEventListener("message", ({ data }) => this.answer(data));
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      this.die(event.message || "the worker stopped with an error");
    });
    worker.addEventListener("messageerror", () => this.die("a message from the worker could not be read"));
  }

  request(kind, payload = {}, transfer = []) {
    if (this.dead) return Promise.reject(named("WorkerError", "the model worker has stopped"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, kind, payload }, transfer);
    });
  }

  answer({ id, result, error, fatal }) {
    const request = this.pending.get(id);
    this.pending.delete(id);
    if (error) {
      request?.reject(named(error.name, error.message));
      if (fatal) this.die(error.message);
    } else {
      request?.resolve(result);
    }
  }

  die(reason) {
    if (this.dead) return;
    this.dead = true;
    for (const { reject } of this.pending.values()) reject(named("WorkerError", reason));
    this.pending.clear();
    this.worker.terminate();
    this.onDeath?.(reason);
  }
}

/// The worker's side: runs `handlers[kind](payload)` for each request and answers with its
/// result. A WebAssembly trap (a Rust panic) leaves the module unusable: the answer then
/// carries the panic's message and `fatal`, and the page replaces the worker.
export function serve(handlers, panicMessage) {
  self.addEventListener("message", async ({ data: { id, kind, payload } }) => {
    try {
      const handler = handlers[kind];
      if (!handler) throw named("InputError", `unknown request "${kind}"`);
      self.postMessage({ id, result: await handler(payload) });
    } catch (error) {
      const fatal = error instanceof WebAssembly.RuntimeError;
      const reported = fatal ? named("WorkerError", panicMessage() ?? `the model code stopped: ${error.message}`) : error;
      self.postMessage({ id, error: plain(reported), fatal });
    }
  });
}
