// A model worker: one instance of the wasm module with its own model, on WebGPU or the CPU.
// The page (web/model-pool.js) starts one or more and talks to them through web/protocol.js;
// everything that computes — loading weights, decoding and classifying images, batches of the
// evaluation and of the benchmark — happens here, so the page's main thread only draws.

import { named, serve } from "./protocol.js";

let session = null;
/// The shipped test images, given once by the page: `{images, imageBytes, count}`.
let testSet = null;

const ready = () => {
  if (!session) throw named("InputError", "the model worker is not initialised");
  return session;
};

/// A user's file → RGBA pixels, decoded by the browser (every format it reads). Pixels are
/// read back unpremultiplied and without colour-space conversion, as the trainer's decoder
/// gives them.
async function decode(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  } catch (error) {
    throw named("InputError", `this file is not an image the browser can read (${error.message})`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const pixels = context.getImageData(0, 0, width, height).data;
  return { rgba: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength), width, height };
}

serve({
  /// Instantiates the module (compiled once by the page and shared) and makes a session.
  async init({ glue, module }) {
    const bindings = await import(glue);
    await bindings.default({ module_or_path: module });
    session = new bindings.Session();
    return { cpuKernels: session.cpuKernels() };
  },
  async useWebGpu() {
    if (!("gpu" in navigator)) throw named("DeviceError", "WebGPU is not available in this worker (navigator.gpu is missing)");
    return await ready().useWebGpu();
  },
  useCpu: () => ready().useCpu(),
  loadWeights: ({ bytes }) => ready().loadWeights(bytes),
  setTta: ({ name }) => ready().setTta(name),
  warmUp: () => ready().warmUp(),
  async classifyFile({ file }) {
    const { rgba, width, height } = await decode(file);
    return ready().classifyRgba(rgba, width, height);
  },
  probabilities: ({ planar }) => ready().probabilities(planar),
  setTestImages(given) {
    testSet = given;
  },
  testProbabilities({ start, count }) {
    if (!testSet) throw named("InputError", "this worker has no test images");
    if (!(start >= 0 && count >= 1 && start + count <= testSet.count)) {
      throw named("InputError", `test images ${start}..${start + count} are outside 0..${testSet.count}`);
    }
    const { images, imageBytes } = testSet;
    return ready().probabilities(images.subarray(start * imageBytes, (start + count) * imageBytes));
  },
  /// For the browser test: a Rust panic inside the module, to show that its message reaches the
  /// page and that the worker is replaced.
  crashForTest: ({ message }) => ready().crashForTest(message),
}, () => self.cifarPanic ?? null);
