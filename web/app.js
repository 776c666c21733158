// The page: DOM glue around the wasm `Session` (web/src/bindings.rs). The model, the
// preprocessing and the weights parsing are the Rust crates'; this file only moves bytes and
// draws results.

import { $, status, backendNote, showBackend, withFallback, message, yieldToPage, fetchWithProgress, bars, imageCanvas } from "./ui.js";
import { setupTestSet } from "./test-set.js";

const DEFAULT_WEIGHTS = "assets/model-f16.safetensors";

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

async function loadWeights(session, bytes, source) {
  const summary = session.loadWeights(bytes); // throws with a message; the old model stays
  describeModel(summary, source);
  $("tta").value = summary.tta;
  window.classNames = summary.class_names;
  const millis = await withFallback(session, () => session.warmUp());
  status(`Model ready on ${session.backend()} (warm-up ${millis.toFixed(0)} ms).`);
}

// Resolves to the session once the default model is loaded (or failed to load): images the
// user gives before then wait on their cards instead of being lost.
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
  const session = await ready;
  waiting.remove();
  try {
    if (!session) throw new Error("the app did not start (see the status line)");
    const bytes = new Uint8Array(await file.arrayBuffer());
    const result = await withFallback(session, () => session.classify(bytes));
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
      ready.then(async (session) => loadWeights(session, new Uint8Array(await weights[0].arrayBuffer()), weights[0].name))
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
  const { Session } = await bindings();
  const session = new Session();
  window.session = session; // for tests and the console

  if (navigator.gpu) {
    try {
      await session.useWebGpu();
    } catch (error) {
      backendNote("WebGPU could not start in this browser — using the CPU backend.", message(error));
    }
  } else {
    backendNote("This browser has no WebGPU — using the CPU backend.");
  }
  showBackend(session);

  try {
    const bytes = await fetchWithProgress(DEFAULT_WEIGHTS, $("weights-progress"));
    await loadWeights(session, bytes, "Shipped model");
  } catch (error) {
    $("model-info").textContent = `No default weights (${error.message}). Load a .safetensors file from the trainer.`;
  }

  $("backend").addEventListener("change", async (event) => {
    try {
      if (event.target.value === "webgpu") await session.useWebGpu();
      else session.useCpu();
      const millis = await session.warmUp().catch(() => 0);
      status(`Switched to ${session.backend()}${millis ? ` (warm-up ${millis.toFixed(0)} ms)` : ""}.`);
      backendNote("");
    } catch (error) {
      session.useCpu();
      backendNote("WebGPU could not start — staying on the CPU backend.", message(error));
    }
    showBackend(session);
  });

  $("tta").addEventListener("change", () => {
    try {
      $("tta").value = session.setTta($("tta").value);
    } catch (error) {
      status(message(error));
    }
  });
  $("weights-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      await loadWeights(session, new Uint8Array(await file.arrayBuffer()), file.name);
    } catch (error) {
      status(`${file.name}: ${message(error)} — the current model is kept.`, "error");
    }
    event.target.value = "";
  });

  setupTestSet(session);
  // Controls that need the model work from now on (images were accepted from the start).
  $("backend").disabled = false;
  $("weights-file").disabled = false;
  $("tta").disabled = false;
  markReady(session);
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  status(`The app failed to start: ${message(error)}`, "error");
  markReady(null);
});
