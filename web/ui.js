// Small DOM helpers shared by the page's scripts (app.js, test-set.js).

export const $ = (id) => document.getElementById(id);

export function status(message, kind = "info") {
  const element = $("status");
  element.textContent = message;
  element.dataset.kind = kind;
}

/// The note beside the backend selector: a plain sentence, and the technical reason (if any)
/// behind a disclosure.
export function backendNote(message, details = "") {
  const note = $("backend-note");
  note.replaceChildren(message);
  if (details) {
    const disclosure = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "details";
    const text = document.createElement("code");
    text.textContent = details;
    disclosure.append(summary, text);
    note.append(" ", disclosure);
  }
}

export function showBackend(backend) {
  $("backend").value = backend;
  const active = $("backend-active");
  active.dataset.backend = backend;
  active.textContent = backend === "webgpu" ? "active: WebGPU" : "active: CPU (WASM)";
}

/// The text of an error from the wasm side (a JS `Error`) or anywhere else.
export const message = (error) => (error instanceof Error ? error.message : String(error));

export const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

export async function fetchWithProgress(url, progress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  progress.hidden = false;
  progress.value = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) progress.value = received / total;
  }
  progress.hidden = true;
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/// One probability bar per class (`data-class`, `data-probability`, `.top` on the arg-max).
export function bars(probabilities, top, classNames) {
  const list = document.createElement("ol");
  list.className = "bars";
  probabilities.forEach((p, i) => {
    const item = document.createElement("li");
    item.dataset.class = classNames[i];
    item.dataset.probability = String(p);
    if (i === top) item.classList.add("top");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = classNames[i];
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * p).toFixed(2)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * p).toFixed(2)}%`;
    item.append(name, bar, value);
    list.append(item);
  });
  return list;
}

/// A 32×32 canvas showing RGBA bytes.
export function imageCanvas(rgba, className) {
  const canvas = document.createElement("canvas");
  canvas.width = 32;
  canvas.height = 32;
  canvas.className = className;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), 32, 32), 0, 0);
  return canvas;
}
