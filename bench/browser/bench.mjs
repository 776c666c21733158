// Browser benchmark (run by bench/browser.sh, which builds and prepares its inputs): our page in
// headless Chromium on the WebGPU (software adapter here) and CPU backends — wasm size, weights
// size, time from navigation to the first prediction, inference images/s at batch 1 and 64 for
// the shipped model and the full ResNet-18 — next to native `trainer bench` on the same machine
// and ONNX Runtime Web running the same models exported to ONNX, in the same browser.
//
// Usage: node bench.mjs CONFIG.json   (CONFIG written by bench/browser.sh; see there)

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ORT_DIST = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules/onnxruntime-web/dist");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json" };

// The page for ONNX Runtime Web: one function the benchmark calls.
const ORT_PAGE = `<!doctype html><meta charset="utf-8"><title>ORT bench</title>
<script type="module">
import * as ort from "/ort/ort.all.min.mjs";
ort.env.wasm.wasmPaths = "/ort/";
ort.env.wasm.numThreads = ${config.threads};
window.ortBench = async (model, provider, batch, iterations) => {
  const session = await ort.InferenceSession.create(model, { executionProviders: [provider] });
  const data = new Float32Array(batch * 3 * 32 * 32).map((_, i) => ((i * 7) % 251) / 251 - 0.5);
  const feeds = { input: new ort.Tensor("float32", data, [batch, 3, 32, 32]) };
  await session.run(feeds);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await (await session.run(feeds)).logits.getData();
  const millis = performance.now() - started;
  await session.release();
  return { images_per_second: 1000 * batch * iterations / millis, millis, isolated: crossOriginIsolated };
};
window.ortReady = true;
</script>`;

function serve() {
  const roots = { "/ort/": ORT_DIST, "/files/": config.files, "/": config.dist };
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    // Cross-origin isolation, so that ONNX Runtime Web may use its threads (the same for ours).
    const headers = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
    if (url.pathname === "/ort-bench.html") {
      response.writeHead(200, { ...headers, "content-type": "text/html" }).end(ORT_PAGE);
      return;
    }
    const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p));
    const root = roots[prefix];
    const rest = decodeURIComponent(url.pathname.slice(prefix.length)) || "index.html";
    const file = path.join(root, rest);
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      response.writeHead(404, headers).end("not found");
      return;
    }
    response.writeHead(200, { ...headers, "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": fs.statSync(file).size });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function launch(webgpu) {
  const args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cifar-bench-"));
  return chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args });
}

const TIMEOUT = 900_000;
const fmt = (x) => (x == null ? "—" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mib = (bytes) => `${(bytes / 1048576).toFixed(2)} MiB`;

/// A fresh browser profile opens the page and gives it the test image as soon as its picker
/// listens (the page keeps an early image until the model is ready): the time from navigation
/// to that prediction on screen, and where the start-up time went (the page's `cifar:…` marks,
/// web/app.js, ms after navigation).
async function openAndPredict(base, backend) {
  const context = await launch(backend === "webgpu");
  const page = await context.newPage();
  await page.goto(base, { waitUntil: "commit" });
  await page.waitForSelector("body[data-accepting-images=true]", { timeout: TIMEOUT });
  await page.setInputFiles("#image-files", [config.image]);
  await page.waitForSelector(".result .prediction", { timeout: TIMEOUT });
  await page.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
  const active = await page.getAttribute("#backend-active", "data-backend");
  if (active !== backend) throw new Error(`wanted ${backend}, the page runs ${active}`);
  const firstPrediction = await page.evaluate(() => window.firstPredictionMillis);
  const startup = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType("mark")
    .filter((m) => m.name.startsWith("cifar:")).map((m) => [m.name.slice(6), Math.round(m.startTime)])));
  return { context, page, firstPrediction, startup };
}

/// Navigations on the CPU backend before the throughput runs (FIRST_RUNS, default 3): a single
/// start-up time says little on a shared machine.
const FIRST_RUNS = Number(process.env.FIRST_RUNS ?? 3);

async function ours(base, backend) {
  const starts = [];
  for (let run = 1; backend === "cpu" && run < FIRST_RUNS; run++) {
    const { context, firstPrediction, startup } = await openAndPredict(base, backend);
    starts.push({ first_prediction_ms: firstPrediction, startup_marks: startup });
    await context.close();
  }
  const { context, page, firstPrediction, startup } = await openAndPredict(base, backend);
  starts.push({ first_prediction_ms: firstPrediction, startup_marks: startup });
  const cpuKernels = await page.evaluate(() => window.session.cpuKernels?.() ?? "flex (a build older than cpuKernels)");
  const rows = [];
  for (const model of config.models) {
    if (model.weights !== "shipped") {
      await page.evaluate(async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        await window.pool.loadWeights(bytes);
        await window.pool.warmUp();
      }, `/files/${model.weights}`);
    }
    // One forward pass per image, as ONNX Runtime runs it (the shipped file asks for multi TTA).
    await page.evaluate(() => window.pool.setTta("none"));
    for (const batch of [1, 64]) {
      const iterations = model.iterations[backend][batch];
      if (!iterations) { rows.push({ model: model.name, batch, images_per_second: null }); continue; }
      // Through the page's worker pool (split across its workers on the CPU), messages included.
      const result = await page.evaluate(([b, n]) => window.pool.benchmark(b, n), [batch, iterations]);
      rows.push({ model: model.name, batch, iterations, images_per_second: result.images_per_second, workers: result.workers });
      console.error(`  ours ${backend} ${model.name} batch ${batch} (${result.workers} worker${result.workers > 1 ? "s" : ""}): ${fmt(result.images_per_second)} img/s`);
    }
  }
  await context.close();
  const median = [...starts].sort((a, b) => a.first_prediction_ms - b.first_prediction_ms)[Math.floor((starts.length - 1) / 2)];
  return { first_prediction_ms: median.first_prediction_ms, startup_marks: median.startup_marks, starts, cpu_kernels: cpuKernels, rows };
}

async function onnxRuntime(base, provider) {
  const context = await launch(provider === "webgpu");
  const page = await context.newPage();
  await page.goto(`${base}ort-bench.html`);
  await page.waitForFunction(() => window.ortReady, null, { timeout: TIMEOUT });
  const rows = [];
  for (const model of config.models) {
    for (const batch of [1, 64]) {
      const iterations = model.iterations[provider === "webgpu" ? "webgpu" : "cpu"][batch];
      if (!iterations || !model.onnx) { rows.push({ model: model.name, batch, images_per_second: null }); continue; }
      const result = await page.evaluate(([m, p, b, n]) => window.ortBench(m, p, b, n), [`/files/${model.onnx}`, provider, batch, iterations]);
      rows.push({ model: model.name, batch, iterations, ...result });
      console.error(`  onnxruntime-web ${provider} ${model.name} batch ${batch}: ${fmt(result.images_per_second)} img/s (crossOriginIsolated ${result.isolated})`);
    }
  }
  await context.close();
  return { rows };
}

const server = await serve();
const base = `http://127.0.0.1:${server.address().port}/`;
// Every module the build made (the CPU-only one, and the WebGPU one where built), raw and
// compressed as a server could send them.
const moduleSize = (file) => {
  const bytes = fs.readFileSync(path.join(config.dist, file));
  return {
    file,
    bytes: bytes.length,
    gzip_bytes: zlib.gzipSync(bytes, { level: 9 }).length,
    brotli_bytes: zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};
const sizes = {
  modules: fs.readdirSync(config.dist).filter((f) => f.endsWith("_bg.wasm")).sort().map(moduleSize),
  weights: Object.fromEntries(config.models.map((m) => [m.name, fs.statSync(m.weights === "shipped" ? path.join(config.dist, "assets/model-f16.safetensors") : path.join(config.files, m.weights)).size])),
};
const results = { label: config.label, sizes, ours: {}, onnxruntime: {}, native: config.native };
try {
  for (const backend of ["cpu", "webgpu"]) {
    console.error(`ours on ${backend}…`);
    results.ours[backend] = await ours(base, backend);
  }
  if (config.onnx) {
    for (const provider of ["wasm", "webgpu"]) {
      console.error(`onnxruntime-web on ${provider}…`);
      results.onnxruntime[provider] = await onnxRuntime(base, provider);
    }
  }
} finally {
  server.close();
}
fs.writeFileSync(config.out, JSON.stringify(results, null, 2));

// The table.
const lookup = (rows, model, batch) => rows?.find((r) => r.model === model && r.batch === batch)?.images_per_second;
console.log(`\n## Browser benchmark: ${config.label} (CPU backend: Burn ${results.ours.cpu.cpu_kernels})`);
for (const m of sizes.modules) {
  console.log(`${m.file}: ${mib(m.bytes)} raw, ${mib(m.gzip_bytes)} gzip -9, ${mib(m.brotli_bytes)} brotli 11`);
}
console.log(`weights (f16): ${Object.entries(sizes.weights).map(([k, v]) => `${k} ${mib(v)}`).join(", ")}`);
for (const backend of ["cpu", "webgpu"]) {
  const { first_prediction_ms: first, startup_marks: marks = {}, starts = [] } = results.ours[backend];
  const steps = Object.entries(marks).map(([name, ms]) => `${name} ${ms}`).join(", ");
  const all = starts.length > 1 ? `median of ${starts.map((s) => s.first_prediction_ms.toFixed(0)).join(", ")}; ` : "";
  console.log(`navigation → first prediction (${backend}, shipped model): ${first.toFixed(0)} ms (${all}that run's steps, ms after navigation: ${steps})`);
}
console.log("\n| model | batch | ours CPU (WASM) | ours WebGPU | native trainer bench (cpu) | ours CPU / native | ONNX Runtime Web wasm | ours CPU / ORT wasm | ORT WebGPU |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const model of config.models) {
  for (const batch of [1, 64]) {
    const cpu = lookup(results.ours.cpu.rows, model.name, batch);
    const gpu = lookup(results.ours.webgpu.rows, model.name, batch);
    const native = config.native?.[batch]?.[model.name]?.infer_folded_images_per_second;
    const ortWasm = lookup(results.onnxruntime.wasm?.rows, model.name, batch);
    const ortGpu = lookup(results.onnxruntime.webgpu?.rows, model.name, batch);
    const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : "—");
    console.log(`| ${model.name} | ${batch} | ${fmt(cpu)} | ${fmt(gpu)} | ${fmt(native)} | ${ratio(cpu, native)} | ${fmt(ortWasm)} | ${ratio(cpu, ortWasm)} | ${fmt(ortGpu)} |`);
  }
}
console.log(`\n(img/s; ONNX Runtime Web with ${config.threads} threads, page cross-origin isolated; ours: CPU batches split across the page's workers, one per core by default. JSON: ${config.out})`);
