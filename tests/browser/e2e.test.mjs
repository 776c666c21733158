// End-to-end test of the page in real headless Chromium (Debian's, driven by playwright-core):
// the WebGPU backend with --enable-unsafe-webgpu (software adapter), the CPU fallback without
// it; in both, the page's prediction for a known image equals `trainer predict` on the same file
// and weights, a corrupt weights file and a non-image get messages, and classifying still works.
// The model runs in Web Workers: a pool of them splits the evaluation on the CPU, a worker that
// crashes (a Rust panic) is replaced with a readable message, and the main thread is never
// blocked for more than 50 ms while classifying, switching backends and evaluating.
//
// With the shipped assets (assets/: weights, test report and images from `trainer export-web`):
// a confusion-matrix cell shows exactly its images, a clicked image's live probabilities agree
// with the stored ones, and the in-browser evaluation gives the trainer's answer on every image
// (all shipped images on the CPU, a few dozen on the slow software WebGPU adapter).
//
// Models of 5 and 12 classes answer with their own classes (equal to `trainer predict`), and are
// refused, with both numbers named, where they meet the 10-class test set.
//
// Inputs (environment, set by tests/browser/run.sh): DIST (built page), WEIGHTS (.safetensors),
// IMAGE (a test image), PYTORCH_WEIGHTS (WEIGHTS as a bare PyTorch state_dict), EXPECTED
// (`trainer predict --json` output for IMAGE), VARIANTS (folder with classes-N.safetensors and
// expected-N.json for N = 5, 12), ARTIFACTS (folder for screenshots).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run tests/browser/run.sh)`);
  return value;
};
const DIST = env("DIST");
const WEIGHTS = env("WEIGHTS");
const IMAGE = env("IMAGE");
const EXPECTED = JSON.parse(fs.readFileSync(env("EXPECTED"), "utf8"))[0];
const ARTIFACTS = env("ARTIFACTS");
const PYTORCH_WEIGHTS = env("PYTORCH_WEIGHTS");
const VARIANTS = env("VARIANTS");
const TIMEOUT = 240_000; // the software WebGPU adapter is slow; CPU loads in about a second

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };
let server;
let base;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = http.createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    const file = path.join(DIST, url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(() => server?.close());

async function open(webgpu) {
  const args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cifar-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true, args,
  });
  const page = await context.newPage();
  const requests = [];
  context.on("request", (request) => requests.push(new URL(request.url()).pathname));
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.addInitScript(recordLongTasks);
  await page.goto(base);
  await page.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
  return { context, page, errors, profile, requests };
}

/// Runs in the page before its own scripts: every task that held the main thread for more than
/// 50 ms (the browser's "long task"), with its start and duration.
function recordLongTasks() {
  window.longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.longTasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });
}

/// Long tasks that started after `since` (the page's clock).
const longTasksSince = (page, since) => page.evaluate((t) => window.longTasks.filter((task) => task.start >= t), since);

async function classify(page, file) {
  const before = await page.locator(".result").count();
  await page.setInputFiles("#image-files", [file]);
  await page.waitForFunction((n) => {
    const cards = document.querySelectorAll(".result");
    return cards.length > n && (cards[0].querySelector(".prediction") || cards[0].classList.contains("error"));
  }, before, { timeout: TIMEOUT });
  return page.locator(".result").first();
}

async function readProbabilities(card) {
  return card.locator(".bars li").evaluateAll((items) =>
    items.map((item) => ({ name: item.dataset.class, p: Number(item.dataset.probability), top: item.classList.contains("top") })));
}

for (const webgpu of [true, false]) {
  const name = webgpu ? "webgpu" : "cpu";
  test(`${name}: backend, prediction equal to the trainer's, bad files handled`, { timeout: 4 * TIMEOUT }, async () => {
    const { context, page, errors, profile, requests } = await open(webgpu);
    try {
      // 1. The active backend, and the fallback message without an adapter.
      const backend = await page.getAttribute("#backend-active", "data-backend");
      assert.equal(backend, name);
      // The WebGPU module (3–4 times the CPU-only one) is fetched only where there is an
      // adapter, and only the WebGPU worker runs it.
      assert.equal(requests.some((p) => p.endsWith("/cifar-web-gpu_bg.wasm")), webgpu, requests.join(" "));
      assert.ok(requests.some((p) => /\/cifar-web-[0-9a-f]+_bg\.wasm$/.test(p)), requests.join(" "));
      assert.equal(await page.evaluate(() => window.pool.primary.build), webgpu ? "webgpu" : "cpu");
      if (webgpu) {
        // That module has no CPU backend of its own (built without flex): asked for the CPU, it
        // refuses; the CPU workers run the CPU-only module.
        const refusal = await page.evaluate(() => window.pool.gpu.request("useCpu")
          .then((answer) => ({ answer }), (error) => ({ name: error.name, message: error.message })));
        assert.equal(refusal.name, "DeviceError", JSON.stringify(refusal));
        assert.match(refusal.message, /WebGPU-only module/);
      }
      // A plain sentence, wgpu's own words (if any) only behind the "details" disclosure.
      if (!webgpu) {
        const sentence = await page.locator("#backend-note").evaluate((e) => e.firstChild.textContent);
        assert.match(sentence, /^(WebGPU could not start in this browser|This browser has no WebGPU) — using the CPU backend\.$/);
        // Asking for WebGPU anyway: a plain refusal, the CPU stays, the WebGPU module unfetched.
        await page.selectOption("#backend", "webgpu");
        await page.waitForFunction(() => /staying on the CPU backend/.test(document.querySelector("#backend-note").textContent), null, { timeout: TIMEOUT });
        assert.equal(await page.getAttribute("#backend-active", "data-backend"), "cpu");
        assert.match(await page.textContent("#backend-note details"), /no WebGPU adapter/);
        assert.ok(!requests.some((p) => p.endsWith("/cifar-web-gpu_bg.wasm")), requests.join(" "));
      }

      // 2. The user's own weights (the trainer's f16 export).
      await page.setInputFiles("#weights-file", [WEIGHTS]);
      await page.waitForSelector("#model-info[data-loaded=true]", { timeout: TIMEOUT });
      assert.match(await page.textContent("#model-info"), /16\/32\/64\/128/);

      // 3. The known image: same top-1 and probabilities within 1e-3 of `trainer predict`.
      const card = await classify(page, IMAGE);
      const probabilities = await readProbabilities(card);
      assert.equal(probabilities.length, 10);
      const top = probabilities.find((entry) => entry.top);
      assert.equal(top.name, EXPECTED.top[0][0]);
      probabilities.forEach((entry, i) => {
        assert.ok(Math.abs(entry.p - EXPECTED.probabilities[i]) < 1e-3,
          `${entry.name}: page ${entry.p}, trainer ${EXPECTED.probabilities[i]}`);
      });
      assert.match(await card.locator(".prediction").textContent(), new RegExp(`ms on ${name}`));

      // 4. A corrupt weights file: a message, and the current model stays.
      const corrupt = path.join(profile, "corrupt.safetensors");
      fs.writeFileSync(corrupt, fs.readFileSync(WEIGHTS).subarray(0, 5000));
      await page.setInputFiles("#weights-file", [corrupt]);
      await page.waitForFunction(() => document.querySelector("#status").dataset.kind === "error", null, { timeout: TIMEOUT });
      assert.match(await page.textContent("#status"), /corrupt\.safetensors.*current model is kept/);

      // 5. A file that is not an image: a message on its card.
      const notImage = path.join(profile, "notes.png");
      fs.writeFileSync(notImage, "these are not pixels");
      const bad = await classify(page, notImage);
      assert.match(await bad.locator(".message").textContent(), /not .*image/);

      // 6. Classifying still works, with the same answer, on the same backend (a bad file is the
      // user's error, not the device's: no fallback).
      const again = await readProbabilities(await classify(page, IMAGE));
      assert.equal(again.find((entry) => entry.top).name, top.name);
      assert.equal(await page.getAttribute("#backend-active", "data-backend"), name);

      // 7. The same weights saved by PyTorch (state_dict names, no metadata): the same answer.
      await page.setInputFiles("#weights-file", [PYTORCH_WEIGHTS]);
      await page.waitForFunction(() => /no training summary/.test(document.querySelector("#model-info").textContent), null, { timeout: TIMEOUT });
      assert.match(await page.textContent("#model-info"), /16\/32\/64\/128/);
      const fromPyTorch = await readProbabilities(await classify(page, IMAGE));
      fromPyTorch.forEach((entry, i) => assert.ok(Math.abs(entry.p - EXPECTED.probabilities[i]) < 1e-3, `${entry.name}: ${entry.p}`));

      // 8a. The fast residual net (another architecture, nothing architecture-specific in the
      // page): the trainer's answers with the TTA its file names (multi), shown in the control;
      // switched off, the answers without TTA.
      const fast = JSON.parse(fs.readFileSync(path.join(VARIANTS, "expected-fast.json"), "utf8"))[0];
      const fastNone = JSON.parse(fs.readFileSync(path.join(VARIANTS, "expected-fast-none.json"), "utf8"))[0];
      assert.equal(fast.tta, "multi");
      await page.setInputFiles("#weights-file", [path.join(VARIANTS, "fast/model-f16.safetensors")]);
      await page.waitForFunction(() => /fast residual net \(8\/16\/16\)/.test(document.querySelector("#model-info").textContent), null, { timeout: TIMEOUT });
      assert.match(await page.textContent("#model-info"), /with multi test-time augmentation/);
      assert.equal(await page.inputValue("#tta"), "multi");
      const fastAnswer = await readProbabilities(await classify(page, IMAGE));
      fastAnswer.forEach((entry, i) => assert.ok(Math.abs(entry.p - fast.probabilities[i]) < 1e-3,
        `fast net ${entry.name}: page ${entry.p}, trainer ${fast.probabilities[i]}`));
      await page.selectOption("#tta", "none");
      const fastPlain = await readProbabilities(await classify(page, IMAGE));
      fastPlain.forEach((entry, i) => assert.ok(Math.abs(entry.p - fastNone.probabilities[i]) < 1e-3,
        `fast net without TTA ${entry.name}: page ${entry.p}, trainer ${fastNone.probabilities[i]}`));
      // Back to the narrow model for what follows, warm-up finished (on WebGPU it reads results
      // back from the GPU: the failure injected below is meant for the classification).
      await page.setInputFiles("#weights-file", [WEIGHTS]);
      await page.waitForFunction(() => /16\/32\/64\/128/.test(document.querySelector("#model-info").textContent), null, { timeout: TIMEOUT });
      await page.waitForFunction((b) => document.querySelector("#status").textContent.startsWith(`Model ready on ${b}`), name, { timeout: TIMEOUT });

      // 8. WebGPU failing mid-session inside Rust: the next read-back of a result from the GPU
      // fails (the browser's buffer mapping is made to reject once, as on a lost device), wgpu
      // and Burn return the error, the page receives it as a DeviceError, moves to the CPU
      // backend with a note and answers there.
      if (webgpu) {
        // WebGPU runs in the model worker: the failure is injected there.
        const workers = page.workers();
        assert.ok(workers.length >= 1, "the model runs in a worker");
        for (const worker of workers) {
          await worker.evaluate(() => {
            const mapAsync = GPUBuffer.prototype.mapAsync;
            let armed = true;
            GPUBuffer.prototype.mapAsync = function (...args) {
              if (!armed) return mapAsync.apply(this, args);
              armed = false;
              return Promise.reject(new DOMException("simulated device loss", "OperationError"));
            };
          });
        }
        const card = await classify(page, IMAGE);
        assert.match(await card.locator(".prediction").textContent(), /ms on cpu/);
        assert.equal(await page.getAttribute("#backend-active", "data-backend"), "cpu");
        assert.equal(await page.locator("#backend-note").evaluate((e) => e.firstChild.textContent),
          "WebGPU failed — switched to the CPU backend.");
        assert.match(await page.textContent("#backend-note details code"),
          /^reading the result from the device failed: the staging buffer could not be mapped: /);
        // The status line follows the backend.
        assert.match(await page.textContent("#status"), /^Model ready on cpu/);
        const answer = await readProbabilities(card);
        assert.equal(answer.find((entry) => entry.top).name, top.name);
      }

      await page.screenshot({ path: path.join(ARTIFACTS, `page-${name}.png`), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
}

test("webgpu: classifying and switching backends never block the main thread; a crashed worker is reported and replaced", { timeout: 4 * TIMEOUT }, async () => {
  const { context, page, errors } = await open(true);
  try {
    assert.equal(await page.getAttribute("#backend-active", "data-backend"), "webgpu");
    await page.setInputFiles("#weights-file", [WEIGHTS]);
    await page.waitForFunction(() => /16\/32\/64\/128/.test(document.querySelector("#model-info").textContent), null, { timeout: TIMEOUT });
    const since = await page.evaluate(() => performance.now());
    const answers = [];
    for (const backend of ["webgpu", "cpu", "webgpu"]) {
      if (backend !== await page.getAttribute("#backend-active", "data-backend")) {
        await page.selectOption("#backend", backend);
        await page.waitForFunction((b) => document.querySelector("#backend-active").dataset.backend === b
          && /^Switched to/.test(document.querySelector("#status").textContent), backend, { timeout: TIMEOUT });
      }
      // Each backend's own worker answers: the WebGPU-only module, or a CPU worker.
      assert.equal(await page.evaluate(() => window.pool.primary.build), backend === "webgpu" ? "webgpu" : "cpu");
      const card = await classify(page, IMAGE);
      assert.match(await card.locator(".prediction").textContent(), new RegExp(`ms on ${backend}`));
      answers.push(await readProbabilities(card));
    }
    assert.deepEqual(await longTasksSince(page, since), [], "main-thread tasks over 50 ms while classifying and switching");
    for (const answer of answers) {
      answer.forEach((entry, i) => assert.ok(Math.abs(entry.p - EXPECTED.probabilities[i]) < 1e-3, `${entry.name}: ${entry.p}`));
    }

    // A Rust panic in the model worker: the request fails with the panic's own message (not
    // WebAssembly's bare "unreachable"), the page says the worker was restarted, and the new
    // worker answers as before on the same backend.
    const crash = await page.evaluate(() => window.pool.primary.request("crashForTest", { message: "simulated crash for the test" })
      .then(() => null, (error) => ({ name: error.name, message: error.message })));
    assert.equal(crash.name, "WorkerError");
    assert.match(crash.message, /^the model code crashed: panicked at web\/src\/bindings\.rs:\d+:\d+:\s+simulated crash for the test$/);
    await page.waitForFunction(() => /A model worker stopped and was restarted/.test(document.querySelector("#backend-note").textContent), null, { timeout: TIMEOUT });
    const card = await classify(page, IMAGE);
    assert.match(await card.locator(".prediction").textContent(), /ms on webgpu/);
    (await readProbabilities(card)).forEach((entry, i) => assert.ok(Math.abs(entry.p - EXPECTED.probabilities[i]) < 1e-3, `after the restart ${entry.name}: ${entry.p}`));
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

const REPORT = JSON.parse(fs.readFileSync(path.join(DIST, "assets/test-report.json"), "utf8"));
const cellImages = (label, predicted) => REPORT.labels.flatMap((l, i) => (l === label && REPORT.predictions[i] === predicted ? [i] : []));
const storedAccuracy = (count) => REPORT.labels.slice(0, count).filter((l, i) => l === REPORT.predictions[i]).length / count;

async function openErrorBrowser(page) {
  await page.waitForSelector("#model-info[data-loaded=true]", { timeout: TIMEOUT });
  assert.match(await page.textContent("#model-info"), /Shipped model/);
  await page.click("#open-errors");
  await page.waitForSelector("#error-browser:not([hidden])", { timeout: TIMEOUT });
}

async function evaluateInPage(page, limit) {
  if (limit) await page.fill("#evaluate-limit", String(limit));
  await page.click("#evaluate-button");
  await page.waitForFunction(() => ["true", "error"].includes(document.querySelector("#evaluate-result").dataset.finished),
    null, { timeout: 4 * TIMEOUT });
  const result = await page.locator("#evaluate-result").evaluate((e) => ({ ...e.dataset, text: e.textContent }));
  assert.equal(result.finished, "true", result.text);
  return result;
}

test("cpu: error browser cells, live vs stored, evaluation of every shipped image equals the trainer", { timeout: 8 * TIMEOUT }, async () => {
  const { context, page, errors } = await open(false);
  try {
    await openErrorBrowser(page);

    // The busiest off-diagonal cell and one diagonal cell show exactly their images.
    const classes = REPORT.class_names.length;
    let busiest = [0, 1];
    for (let l = 0; l < classes; l++) for (let p = 0; p < classes; p++) {
      if (l !== p && cellImages(l, p).length > cellImages(...busiest).length) busiest = [l, p];
    }
    for (const [label, predicted] of [busiest, [busiest[0], busiest[0]]]) {
      const expected = cellImages(label, predicted);
      assert.ok(expected.length > 0);
      const cell = page.locator(`#confusion .cell[data-label="${label}"][data-predicted="${predicted}"]`);
      assert.equal(Number(await cell.getAttribute("data-count")), expected.length);
      await cell.click();
      const shown = await page.locator("#gallery .thumb").evaluateAll((items) => items.map((f) => Number(f.dataset.index)));
      assert.deepEqual([...shown].sort((a, b) => a - b), expected, `cell ${label}/${predicted}`);
      // Most confident first, by the stored probability of the predicted class.
      const confidence = shown.map((i) => REPORT.probabilities[i][predicted]);
      confidence.slice(1).forEach((c, k) => assert.ok(c <= confidence[k], "gallery sorted by confidence"));
    }

    // Filters: every misclassified image of one true class.
    await page.selectOption("#filter-label", String(busiest[0]));
    await page.selectOption("#filter-predicted", "");
    await page.check("#errors-only");
    const errorsOfClass = REPORT.labels.flatMap((l, i) => (l === busiest[0] && REPORT.predictions[i] !== l ? [i] : []));
    assert.equal(Number(await page.getAttribute("#gallery", "data-count")), errorsOfClass.length);

    // A clicked image: live probabilities next to the stored ones, agreeing.
    const first = page.locator("#gallery .thumb").first();
    const index = await first.getAttribute("data-index");
    await first.click();
    await page.waitForSelector(`#detail[data-index="${index}"][data-agrees]`, { timeout: TIMEOUT });
    assert.equal(await page.getAttribute("#detail", "data-agrees"), "true", await page.textContent("#detail-flag"));
    assert.equal(await page.locator("#detail-live .bars li").count(), classes);

    // A running evaluation is cancelled cleanly by a new one: the second counts exactly its own
    // images, every answer the trainer's.
    await page.click("#evaluate-button");
    await page.waitForFunction(() => Number(document.querySelector("#evaluate-result").dataset.done ?? 0) > 0, null, { timeout: TIMEOUT });
    const partial = await evaluateInPage(page, 100);
    assert.equal(Number(partial.done), 100);
    assert.equal(Number(partial.total), 100);
    assert.equal(Number(partial.disagreements), 0, partial.text);
    assert.equal(Number(partial.accuracy), storedAccuracy(100));

    // Every shipped image, split across the pool's workers: the same answer as the trainer, so
    // the same accuracy; the main thread never blocked for more than 50 ms meanwhile.
    // Three workers whatever the machine's core count, so that the split is exercised.
    await page.locator("#workers").fill("3");
    await page.locator("#workers").dispatchEvent("change");
    await page.fill("#evaluate-limit", "");
    const since = await page.evaluate(() => performance.now());
    const result = await evaluateInPage(page);
    assert.deepEqual(await longTasksSince(page, since), [], "main-thread tasks over 50 ms during the evaluation");
    assert.equal(await page.evaluate(() => window.pool.workers.length), 3);
    assert.ok(page.workers().length >= 3, `${page.workers().length} workers running`);
    assert.equal(Number(result.done), REPORT.labels.length);
    assert.equal(Number(result.disagreements), 0, result.text);
    assert.ok(Number(result.maxDifference) < 1e-3, result.text);
    assert.equal(Number(result.accuracy), REPORT.accuracy);
    assert.equal(Number(result.accuracy), storedAccuracy(REPORT.labels.length));
    console.log(`cpu evaluation: ${result.text}`);

    await page.screenshot({ path: path.join(ARTIFACTS, "error-browser-cpu.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("webgpu: evaluation of the first shipped images equals the trainer", { timeout: 8 * TIMEOUT }, async () => {
  const { context, page, errors } = await open(true);
  try {
    assert.equal(await page.getAttribute("#backend-active", "data-backend"), "webgpu");
    await openErrorBrowser(page);
    const count = 32;
    const result = await evaluateInPage(page, count);
    assert.equal(result.backend, "webgpu");
    assert.equal(Number(result.done), count);
    assert.equal(Number(result.disagreements), 0, result.text);
    assert.ok(Number(result.maxDifference) < 1e-3, result.text);
    assert.equal(Number(result.accuracy), storedAccuracy(count));
    console.log(`webgpu evaluation: ${result.text}`);
    await page.screenshot({ path: path.join(ARTIFACTS, "error-browser-webgpu.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("cpu: models of 5 and 12 classes answer with their classes and are refused against the test set", { timeout: 4 * TIMEOUT }, async () => {
  const { context, page, errors } = await open(false);
  try {
    await openErrorBrowser(page);
    for (const classes of [5, 12]) {
      const expected = JSON.parse(fs.readFileSync(path.join(VARIANTS, `expected-${classes}.json`), "utf8"))[0];
      await page.setInputFiles("#weights-file", [path.join(VARIANTS, `classes-${classes}.safetensors`)]);
      await page.waitForFunction((n) => new RegExp(`classes-${n}`).test(document.querySelector("#model-info").textContent), classes, { timeout: TIMEOUT });
      const answer = await readProbabilities(await classify(page, IMAGE));
      assert.equal(answer.length, classes);
      answer.forEach((entry, i) => assert.ok(Math.abs(entry.p - expected.probabilities[i]) < 1e-3, `${classes}: ${entry.name} ${entry.p}`));
      assert.equal(answer.find((entry) => entry.top).name, expected.top[0][0]);

      // Against the 10-class test set: one clear message, no wrong rows.
      const mismatch = `the model has ${classes} classes but the test report has 10`;
      await page.click("#evaluate-button");
      await page.waitForFunction(() => document.querySelector("#evaluate-result").dataset.finished === "error", null, { timeout: TIMEOUT });
      assert.match(await page.textContent("#evaluate-result"), new RegExp(mismatch));
      await page.locator("#gallery .thumb").first().click();
      await page.waitForFunction((m) => document.querySelector("#detail-live").textContent.includes(m), mismatch, { timeout: TIMEOUT });
    }
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("webgpu: an image given before the model is ready waits on its card and is classified", { timeout: 4 * TIMEOUT }, async () => {
  const args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--enable-unsafe-webgpu"];
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cifar-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(base, { waitUntil: "commit" });
    // As soon as the picker is listened to, before WebGPU, the weights and the warm-up are done.
    await page.waitForSelector("body[data-accepting-images=true]", { timeout: TIMEOUT });
    await page.setInputFiles("#image-files", [IMAGE]);
    const early = await page.evaluate(() => ({ ready: document.body.dataset.ready ?? null, cards: document.querySelectorAll(".result").length }));
    assert.equal(early.ready, null, "the upload happened before the page was ready");
    await page.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
    await page.waitForSelector(".result .prediction", { timeout: TIMEOUT });
    assert.equal(await page.locator(".result").count(), 1);
    assert.equal(await page.locator(".result .bars li").count(), 10);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
