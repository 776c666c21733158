// The page: DOM glue. The model lives in Web Workers (web/model-pool.js, web/worker.js), so
// that loading, decoding and computing never hold up this thread; the main thread's own wasm
// `Session` (web/src/bindings.rs) keeps only the shipped test set's books. The model, the
// preprocessing and the weights parsing are the Rust crates'; this file moves bytes and draws.

import { $, status, backendNote, showBackend, message, yieldToPage, fetchWithProgress, bars, imageCanvas } from "./ui.js";
import { setupTestSet } from "./test-set.js";
import { ModelPool } from "./model-pool.js";

const DEFAULT_WEIGHTS = "assets/model-f16.safetensors";

/// Marks on the page's performance timeline (`cifar:…`), read by bench/browser.sh to say where
/// the time to the first prediction goes.
const mark = (name) => performance.mark(`cifar:${name}`);

function bindings() {
  return new Promise((resolve) => {
    if (window.wasmBindings) return resolve(window.wasmBindings);
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true });
  });
}

function describeModel(summary, source) {
  const t = summary.training;
  const parts = [`${source}: ${summary.description}`];
  if (t) {
    const tta = t.tta && t.tta !== "none" ? ` with ${t.tta} test-time augmentation` : "";
    if (t.test_accuracy != null) parts.push(`test accuracy ${(100 * t.test_accuracy).toFixed(2)}%` + (t.test_images ? ` on ${t.test_images} images` : "") + tta);
    parts.push(`${t.epochs} epochs on ${t.train_images} images`);
  } else {
    parts.push("no training summary in the file");
  }
  $("model-info").textContent = parts.join(" · ");
  $("model-info").dataset.loaded = "true";
}

async function loadWeights(app, bytes, source) {
  status(`Loading the model (${source})…`);
  const summary = await app.pool.loadWeights(bytes); // rejects with a message; the old model stays
  mark("weights-loaded");
  app.session.setModelClasses(summary.class_names);
  describeModel(summary, source);
  $("tta").value = summary.tta;
  window.classNames = summary.class_names;
  // On WebGPU a first pass compiles the shaders, so it runs now; on the CPU there is nothing to
  // prepare, and a warm-up pass would only delay the first answer (about 250 ms for the shipped
  // model with its multi TTA, bench/browser.sh).
  if (app.pool.backend === "webgpu") {
    const millis = await app.pool.warmUp();
    // The backend is read again: a WebGPU failure during the warm-up moved it to the CPU.
    status(`Model ready on ${app.pool.backend} (warm-up ${millis.toFixed(0)} ms).`);
  } else {
    status(`Model ready on ${app.pool.backend}.`);
  }
}

// Resolves to the app ({pool, session}) once the default model is loaded (or failed to load):
// images the user gives before then wait on their cards instead of being lost.
let markReady;
const ready = new Promise((resolve) => { markReady = resolve; });

async function classifyFile(file) {
  const card = document.createElement("article");
  card.className = "result";
  card.dataset.file = file.name || "pasted image";
  const title = document.createElement("h3");
  title.textContent = card.dataset.file;
  const waiting = document.createElement("p");
  waiting.className = "waiting";
  waiting.textContent = "waiting for the model…";
  card.append(title, waiting);
  $("results").prepend(card);
  const app = await ready;
  waiting.remove();
  try {
    if (!app) throw new Error("the app did not start (see the status line)");
    if (window.firstPredictionMillis === undefined) mark("first-image");
    const result = await app.pool.classifyFile(file);
    // Time from navigation to the first prediction on screen (read by the browser benchmark).
    window.firstPredictionMillis ??= performance.now();
    const original = document.createElement("img");
    original.className = "original";
    original.alt = "your image";
    original.src = URL.createObjectURL(file);
    const canvas = imageCanvas(result.model_view, "model-view");
    canvas.title = "what the model sees (32×32)";
    const summary = document.createElement("p");
    summary.className = "prediction";
    summary.dataset.top = window.classNames[result.top];
    summary.textContent = `${window.classNames[result.top]} (${(100 * result.probabilities[result.top]).toFixed(1)}%) · ${result.millis.toFixed(1)} ms on ${result.backend}`;
    card.append(original, canvas, summary, bars(result.probabilities, result.top, window.classNames));
  } catch (error) {
    card.classList.add("error");
    const text = document.createElement("p");
    text.className = "message";
    text.textContent = message(error);
    card.append(text);
  }
}

async function classifyAll(files) {
  for (const file of files) {
    await classifyFile(file);
    await yieldToPage(); // let the page paint between images
  }
}

/// Image inputs work from the first moment: picker, drop and paste queue on `ready`.
function acceptImages() {
  $("image-files").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = ""; // so that choosing the same file again classifies it again
    classifyAll(files);
  });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...event.dataTransfer.files];
    const weights = files.filter((f) => f.name.endsWith(".safetensors"));
    if (weights.length) {
      ready.then(async (app) => loadWeights(app, new Uint8Array(await weights[0].arrayBuffer()), weights[0].name))
        .catch((error) => status(`${weights[0].name}: ${message(error)} — the current model is kept.`, "error"));
    }
    classifyAll(files.filter((f) => !f.name.endsWith(".safetensors")));
  });
  document.addEventListener("paste", (event) => {
    const files = [...event.clipboardData.items].filter((i) => i.kind === "file").map((i) => i.getAsFile());
    if (files.length) classifyAll(files);
  });
  document.body.dataset.acceptingImages = "true";
}

async function main() {
  acceptImages();
  // The shipped weights download and the first model worker starts while the page's own module
  // (the test set's books) compiles.
  const shippedWeights = fetchWithProgress(DEFAULT_WEIGHTS, $("weights-progress"));
  shippedWeights.catch(() => {}); // its failure is reported where it is awaited
  const pool = new ModelPool({
    onBackend: showBackend,
    onFallback: (sentence, details) => {
      backendNote(sentence, details);
      status("Model ready on cpu (moved from WebGPU after a failure).");
    },
    onNote: backendNote,
  });
  window.pool = pool;
  $("workers").value = String(pool.size);
  const started = pool.start({ webgpu: "gpu" in navigator });
  started.catch(() => {}); // reported below

  const { Session } = await bindings();
  mark("page-module");
  const session = new Session(); // the test set's books; the model is in the workers
  const app = { pool, session };
  window.session = session; // for tests and the console

  let webgpuProblem = null;
  try {
    webgpuProblem = await started;
  } catch (error) {
    status(`The model worker could not start: ${message(error)}`, "error");
    throw error;
  }
  mark("worker-started");
  if (!("gpu" in navigator)) backendNote("This browser has no WebGPU — using the CPU backend.");
  else if (webgpuProblem) backendNote("WebGPU could not start in this browser — using the CPU backend.", message(webgpuProblem));
  showBackend(pool.backend);

  try {
    const bytes = await shippedWeights;
    mark("weights-fetched");
    await loadWeights(app, bytes, "Shipped model");
    mark("model-ready");
  } catch (error) {
    $("model-info").textContent = `No default weights (${error.message}). Load a .safetensors file from the trainer.`;
  }

  $("backend").addEventListener("change", async (event) => {
    try {
      if (event.target.value === "webgpu") await pool.useWebGpu();
      else await pool.useCpu();
      const millis = await pool.warmUp().catch(() => 0);
      status(`Switched to ${pool.backend}${millis ? ` (warm-up ${millis.toFixed(0)} ms)` : ""}.`);
      backendNote("");
    } catch (error) {
      await pool.useCpu().catch(() => {});
      backendNote("WebGPU could not start — staying on the CPU backend.", message(error));
    }
    showBackend(pool.backend);
  });

  $("tta").addEventListener("change", async () => {
    try {
      $("tta").value = await pool.setTta($("tta").value);
    } catch (error) {
      status(message(error));
    }
  });
  $("workers").addEventListener("change", () => {
    pool.setSize(Number($("workers").value));
    $("workers").value = String(pool.size);
  });
  $("weights-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const info = $("model-info");
    info.dataset.loaded = "loading"; // "true" again once this file or, on error, the old model is in place
    try {
      await loadWeights(app, new Uint8Array(await file.arrayBuffer()), file.name);
    } catch (error) {
      info.dataset.loaded = "true";
      status(`${file.name}: ${message(error)} — the current model is kept.`, "error");
    }
    event.target.value = "";
  });

  setupTestSet(app);
  // Controls that need the model work from now on (images were accepted from the start).
  $("backend").disabled = false;
  $("weights-file").disabled = false;
  $("tta").disabled = false;
  $("workers").disabled = false;
  markReady(app);
  document.body.dataset.ready = "true";
  mark("ready");
}

main().catch((error) => {
  status(`The app failed to start: ${message(error)}`, "error");
  markReady(null);
});
