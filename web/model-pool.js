// The page's model: module workers (web/worker.js), each holding its own copy of the model. One
// worker runs on WebGPU when the browser offers it; the CPU backend runs in a pool of workers
// that split batches between them (the CPU backend is single-threaded in WASM, and workers that
// each hold a model need no shared memory). A newer evaluation or a backend switch cancels a
// running one; a worker that dies is replaced and given the model again.
//
// Two builds of the module: the CPU-only one (0.74 MiB gzipped), which trunk links into the page
// and the CPU workers run, and the WebGPU-only one (web/gpu/, Burn's GPU kernel generator and no
// CPU backend), fetched for the WebGPU worker only when the browser has a WebGPU adapter. On the
// CPU backend, or after WebGPU fails, the CPU workers answer; the WebGPU worker, if any, keeps
// the model loaded so that switching back is immediate.

import { Channel, named } from "./protocol.js";

/// How many workers share the CPU backend by default.
export const defaultPoolSize = () => Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4));

/// The wasm-bindgen glue and module of each build: the CPU-only one that trunk linked into the
/// page (hashed names) and the WebGPU one that it built as a worker (fixed names beside this file).
function moduleUrls() {
  const glue = document.querySelector('link[rel="modulepreload"][href*="cifar-web"]');
  const wasm = document.querySelector('link[rel="preload"][type="application/wasm"]');
  if (!glue || !wasm) throw new Error("the page does not link the wasm module (build it with trunk)");
  return {
    cpu: { glue: glue.href, wasm: wasm.href },
    webgpu: { glue: new URL("./cifar-web-gpu.js", import.meta.url).href, wasm: new URL("./cifar-web-gpu_bg.wasm", import.meta.url).href },
  };
}

/// Why this browser cannot run WebGPU (a `DeviceError`), or null when it offers an adapter.
/// Asked on the page so that the WebGPU module is not downloaded in vain.
async function webGpuProblem() {
  if (!("gpu" in navigator)) return named("DeviceError", "this browser has no WebGPU (navigator.gpu is missing)");
  try {
    if (await navigator.gpu.requestAdapter()) return null;
    return named("DeviceError", "the browser offers no WebGPU adapter (requestAdapter() gave null)");
  } catch (error) {
    return named("DeviceError", `requesting a WebGPU adapter failed: ${error.message}`);
  }
}

class ModelWorker {
  /// `build` is the module it runs: "cpu" (the CPU backend) or "webgpu" (WebGPU only); `index`
  /// names it (a number for a CPU worker, "gpu" for the WebGPU one).
  constructor(pool, index, build = "cpu") {
    this.pool = pool;
    this.index = index;
    this.build = build;
    this.channel = null;
    this.started = null;
  }

  /// Starts the worker and gives it the pool's state: WebGPU (the WebGPU worker), weights,
  /// test-time augmentation and the shipped test images. Resolves when it can answer; a WebGPU
  /// worker in which WebGPU does not start is dropped from the pool instead.
  start() {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: `model-${this.index}` });
    const channel = new Channel(worker, (reason) => this.pool.replace(this, reason));
    this.channel = channel;
    this.started = (async () => {
      const { module, glue } = await this.pool.module(this.build);
      await channel.request("init", { glue, module });
      if (this.build === "webgpu") {
        // This module has no CPU backend of its own: without WebGPU the CPU workers answer.
        const failed = await channel.request("useWebGpu").then(() => null, (error) => error);
        if (failed) return this.pool.dropWebGpu(failed);
      }
      if (this.pool.weights) {
        await channel.request("loadWeights", { bytes: this.pool.weights });
        await channel.request("setTta", { name: this.pool.tta });
      }
      if (this.pool.testImages) await channel.request("setTestImages", this.pool.testImages);
    })();
    return this.started;
  }

  /// Resolves when the worker can answer, starting it if it has not started yet.
  ready() {
    return this.started ?? this.start();
  }

  /// Sends a request, starting the worker first if it has not started yet.
  async request(kind, payload, transfer) {
    await this.ready();
    return this.channel.request(kind, payload, transfer);
  }

  stop() {
    this.channel?.die("stopped by the page");
  }
}

export class ModelPool {
  /// `onBackend(name)` runs when the active backend changes, `onFallback(sentence, details)`
  /// when a WebGPU failure moved the work to the CPU, `onNote(sentence, details)` for anything
  /// else the visitor should know (a restarted worker).
  constructor({ size = defaultPoolSize(), onBackend = () => {}, onFallback = () => {}, onNote = () => {} } = {}) {
    this.size = size;
    this.onBackend = onBackend;
    this.onFallback = onFallback;
    this.onNote = onNote;
    this.backend = "cpu";
    this.weights = null;
    this.tta = "default";
    this.testImages = null;
    this.generation = 0;
    this.restarts = 0;
    this.urls = moduleUrls();
    this.modules = {};
    /// The CPU workers (started when first needed), and the WebGPU worker or null.
    this.workers = [];
    this.gpu = null;
    /// Why there is no WebGPU worker, when WebGPU failed to start in it.
    this.webgpuProblem = null;
  }

  /// The compiled module of a build ("cpu" or "webgpu"): fetched and compiled once, on first
  /// use, and instantiated by every worker of that build.
  module(build) {
    const { glue, wasm } = this.urls[build];
    this.modules[build] ??= WebAssembly.compileStreaming(fetch(wasm)).then((module) => ({ module, glue }));
    return this.modules[build];
  }

  /// The worker that answers single requests on the active backend.
  get primary() {
    return this.backend === "webgpu" ? this.gpu : this.workers[0];
  }

  /// Every worker that has been started (the WebGPU one included).
  started() {
    return [this.gpu, ...this.workers].filter((w) => w?.started);
  }

  /// The started workers other than the active backend's, which follow its model and TTA.
  others() {
    return this.started().filter((w) => w !== this.primary);
  }

  /// Starts the first worker: the WebGPU one when `webgpu` is asked for and works, else the
  /// first CPU worker; rejects only if no worker can start at all. Resolves to the reason WebGPU
  /// did not start, or null.
  async start({ webgpu }) {
    this.workers = [new ModelWorker(this, 0)];
    const problem = webgpu ? await webGpuProblem() : null;
    if (webgpu && !problem) {
      const gpu = (this.gpu = new ModelWorker(this, "gpu", "webgpu"));
      await gpu.ready().catch((error) => this.dropWebGpu(error));
      if (this.gpu === gpu) {
        this.setBackend("webgpu");
        return null;
      }
    }
    await this.workers[0].start();
    return this.webgpuProblem ?? problem;
  }

  /// Stops the WebGPU worker after WebGPU failed to start in it (`useWebGpu` then gives
  /// `error`); if the page was on WebGPU (a replaced worker), the CPU workers take over.
  dropWebGpu(error) {
    this.webgpuProblem = error;
    const gpu = this.gpu;
    this.gpu = null;
    gpu?.stop();
    if (this.backend === "webgpu") {
      this.setBackend("cpu");
      this.onFallback("WebGPU could not start again — using the CPU backend.", error.message);
    }
  }

  setBackend(name) {
    this.backend = name;
    this.onBackend(name);
  }

  /// Switches every request to WebGPU (rejects, staying on the CPU, when it cannot start). There
  /// is no WebGPU worker when the page started without a WebGPU adapter or WebGPU failed.
  async useWebGpu() {
    this.cancel();
    if (!this.gpu) {
      throw this.webgpuProblem ?? (await webGpuProblem()) ?? named("DeviceError", "WebGPU became available after the page started; reload the page to use it");
    }
    await this.gpu.request("useWebGpu");
    this.setBackend("webgpu");
  }

  /// Switches every request to the CPU workers (the first one starts if it has not yet).
  async useCpu() {
    this.cancel();
    await this.workers[0].ready();
    this.setBackend("cpu");
  }

  /// Loads a weights file in every started worker (the others get it when they start); the
  /// active backend's worker checks it, and on error every worker keeps its model. Resolves to
  /// the model's summary.
  async loadWeights(bytes) {
    this.cancel();
    const summary = await this.withFallback(() => this.primary.request("loadWeights", { bytes }));
    this.weights = bytes;
    this.tta = summary.tta;
    await Promise.all(this.others().map((w) => w.request("loadWeights", { bytes }).then(() => w.request("setTta", { name: this.tta }))));
    return summary;
  }

  async setTta(name) {
    this.cancel(); // a running evaluation would mix answers of two TTAs
    const tta = await this.primary.request("setTta", { name });
    this.tta = tta;
    await Promise.all(this.others().map((w) => w.request("setTta", { name: tta })));
    return tta;
  }

  warmUp() {
    return this.withFallback(() => this.primary.request("warmUp"));
  }

  /// Decodes and classifies a user's file in the active backend's worker.
  classifyFile(file) {
    return this.withFallback(() => this.primary.request("classifyFile", { file }));
  }

  /// How many workers a batch is split across on the active backend.
  get parallelism() {
    return this.backend === "cpu" ? this.size : 1;
  }

  /// Probabilities of `count` planar images (rows flattened, in order), split across the
  /// workers on the CPU backend. Rejects with a `CancelledError` when `cancel()` ran meanwhile.
  probabilities(planar, count) {
    const imageBytes = planar.length / count;
    return this.split(count, (worker, from, to) => {
      if (from === 0 && to === count) return worker.request("probabilities", { planar });
      const share = planar.slice(from * imageBytes, to * imageBytes);
      return worker.request("probabilities", { planar: share }, [share.buffer]);
    });
  }

  /// Gives every worker the shipped test images once (`count` planar images back to back), so
  /// that evaluating them sends only index ranges: the main thread copies no pixels per round,
  /// which keeps its tasks short while the workers compute.
  async setTestImages(images, count) {
    this.testImages = { images, imageBytes: images.length / count, count };
    await Promise.all(this.started().map((w) => w.request("setTestImages", this.testImages)));
  }

  /// Probabilities of the shipped test images `start..start + count`, like `probabilities`.
  testProbabilities(start, count) {
    if (!this.testImages) return Promise.reject(named("InputError", "the test images are not loaded"));
    return this.split(count, (worker, from, to) =>
      worker.request("testProbabilities", { start: start + from, count: to - from }));
  }

  /// Runs `ask(worker, from, to)` for consecutive shares of `count` images (one per CPU worker
  /// on the CPU backend, else all in the WebGPU worker) and joins the answers in order.
  async split(count, ask) {
    const generation = this.generation;
    const run = async () => {
      if (this.backend !== "cpu" || count < 2 || this.size < 2) return ask(this.primary, 0, count);
      await this.ensureWorkers();
      const parts = Math.min(this.workers.length, count);
      const answers = await Promise.all(Array.from({ length: parts }, (_, k) =>
        ask(this.workers[k], Math.floor((k * count) / parts), Math.floor(((k + 1) * count) / parts))));
      return {
        probabilities: answers.flatMap((a) => a.probabilities),
        classes: answers[0].classes,
        millis: Math.max(...answers.map((a) => a.millis)),
        backend: "cpu",
      };
    };
    const result = await this.withFallback(run);
    if (generation !== this.generation) throw named("CancelledError", "replaced by a newer request");
    return result;
  }

  /// Inference speed as the page gets it: `iterations` rounds of `batch` images through the
  /// pool (split across the workers on the CPU backend, messages included), after one untimed
  /// round.
  async benchmark(batch, iterations) {
    const images = Array.from({ length: batch * 3072 }, (_, i) => (i * 7) % 251);
    const planar = () => Uint8Array.from(images);
    await this.probabilities(planar(), batch);
    let millis = 0;
    for (let i = 0; i < iterations; i++) {
      const input = planar();
      const started = performance.now();
      await this.probabilities(input, batch);
      millis += performance.now() - started;
    }
    return { batch, iterations, millis, images_per_second: (1000 * batch * iterations) / millis, backend: this.backend, workers: this.parallelism };
  }

  /// Ends any running evaluation: its next answer rejects with a `CancelledError`.
  cancel() {
    this.generation++;
  }

  /// Starts the workers a CPU batch is split across (up to the pool's size).
  async ensureWorkers() {
    while (this.workers.length < this.size) this.workers.push(new ModelWorker(this, this.workers.length));
    await Promise.all(this.workers.map((w) => w.ready()));
  }

  /// Changes the number of CPU workers (1 to 16); extra ones stop.
  setSize(size) {
    this.cancel();
    this.size = Math.max(1, Math.min(16, Math.floor(size) || 1));
    for (const worker of this.workers.splice(this.size)) worker.stop();
  }

  /// Replaces a dead worker with a fresh one holding the same model; a note says so.
  replace(dead, reason) {
    const index = this.workers.indexOf(dead);
    if (index < 0 && dead !== this.gpu) return; // stopped on purpose
    this.restarts++;
    const fresh = new ModelWorker(this, dead.index, dead.build);
    if (dead === this.gpu) this.gpu = fresh;
    else this.workers[index] = fresh;
    // Its failure to start shows in the next request sent to it.
    fresh.start().catch(() => {});
    this.onNote(`A model worker stopped and was restarted (${this.restarts} so far).`, reason);
  }

  /// Runs `work()`; if it fails on WebGPU with a DeviceError (a lost device, a failed read-back:
  /// not the user's input, which fails anywhere), moves to the CPU with a note and runs it once
  /// more there: never a dead page.
  async withFallback(work) {
    try {
      return await work();
    } catch (error) {
      if (this.backend !== "webgpu" || error?.name !== "DeviceError") throw error;
      this.setBackend("cpu");
      this.onFallback("WebGPU failed — switched to the CPU backend.", error.message);
      return await work();
    }
  }
}
