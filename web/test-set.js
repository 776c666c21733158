// The error browser and the in-browser evaluation over the test images the trainer shipped
// (`trainer export-web`: assets/test-report.json + assets/test-images.bin). Figures, filtering,
// sorting and the comparison with the trainer's stored answers are computed in Rust on this
// thread (web/src/test_set.rs, web/src/evaluation.rs: bookkeeping only); the probabilities come
// from the model workers (web/model-pool.js). This file draws.

import { $, status, message, fetchWithProgress, bars, imageCanvas } from "./ui.js";

const REPORT = "assets/test-report.json";
const IMAGES = "assets/test-images.bin";
const GALLERY_LIMIT = 600; // thumbnails drawn at once; the count above says how many match
const percent = (x) => `${(100 * x).toFixed(2)}%`;

let summary = null;

function classOptions(select, names) {
  select.replaceChildren(new Option("any", ""), ...names.map((name, i) => new Option(name, String(i))));
}

/// A `<th>` whose text is set as text: class names come from a weights file and are never
/// parsed as HTML.
function headerCell(text, scope, className) {
  const th = document.createElement("th");
  th.textContent = text;
  if (scope) th.scope = scope;
  if (className) th.className = className;
  return th;
}

function drawConfusion(app) {
  const table = $("confusion");
  const names = summary.class_names;
  const head = table.createTHead().insertRow();
  head.append(headerCell("true \\ predicted", null, "corner"));
  names.forEach((name) => head.append(headerCell(name, "col")));
  head.append(headerCell("accuracy", "col"));
  const body = table.createTBody();
  summary.confusion.forEach((row, label) => {
    const tr = body.insertRow();
    tr.append(headerCell(names[label], "row"));
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, predicted) => {
      const cell = tr.insertCell();
      const button = document.createElement("button");
      button.className = "cell";
      button.dataset.label = String(label);
      button.dataset.predicted = String(predicted);
      button.dataset.count = String(count);
      button.textContent = String(count);
      button.title = `${count} ${names[label]} images predicted ${names[predicted]}`;
      const share = count / total;
      button.style.background = label === predicted
        ? `rgba(47, 91, 211, ${0.15 + 0.6 * share})`
        : count ? `rgba(200, 40, 40, ${Math.min(0.8, 0.1 + 3 * share)})` : "transparent";
      button.addEventListener("click", () => {
        $("filter-label").value = String(label);
        $("filter-predicted").value = String(predicted);
        $("errors-only").checked = label !== predicted;
        table.querySelectorAll(".cell.selected").forEach((b) => b.classList.remove("selected"));
        button.classList.add("selected");
        drawGallery(app);
      });
      cell.append(button);
    });
    const accuracy = summary.per_class_accuracy[label];
    const cell = tr.insertCell();
    cell.className = "class-accuracy";
    cell.dataset.class = names[label];
    cell.textContent = accuracy == null ? "—" : percent(accuracy);
  });
}

function selectedClass(id) {
  const value = $(id).value;
  return value === "" ? undefined : Number(value);
}

function drawGallery(app) {
  const { session } = app;
  const entries = session.gallery(selectedClass("filter-label"), selectedClass("filter-predicted"),
    $("errors-only").checked, $("sort").value);
  const names = summary.class_names;
  const gallery = $("gallery");
  gallery.replaceChildren();
  gallery.dataset.count = String(entries.length);
  $("gallery-count").textContent = entries.length > GALLERY_LIMIT
    ? `${entries.length} images (showing the first ${GALLERY_LIMIT})`
    : `${entries.length} images`;
  for (const entry of entries.slice(0, GALLERY_LIMIT)) {
    const figure = document.createElement("figure");
    figure.className = "thumb" + (entry.label === entry.predicted ? " correct" : "");
    figure.dataset.index = String(entry.index);
    figure.dataset.label = String(entry.label);
    figure.dataset.predicted = String(entry.predicted);
    figure.tabIndex = 0;
    const caption = document.createElement("figcaption");
    caption.textContent = `${names[entry.predicted]} ${Math.round(100 * entry.confidence)}% · true ${names[entry.label]}`;
    figure.append(imageCanvas(session.testImage(entry.index), "thumb-image"), caption);
    figure.addEventListener("click", () => showDetail(app, entry));
    gallery.append(figure);
  }
}

async function showDetail({ session, pool }, entry) {
  const names = summary.class_names;
  const detail = $("detail");
  detail.hidden = false;
  detail.dataset.index = String(entry.index);
  delete detail.dataset.agrees;
  $("detail-title").textContent = `Test image #${entry.index}: true ${names[entry.label]}, stored prediction ${names[entry.predicted]}`;
  $("detail-image").replaceChildren(imageCanvas(session.testImage(entry.index), "detail-image"));
  $("detail-live").replaceChildren("computing…");
  $("detail-stored").replaceChildren();
  $("detail-flag").textContent = "";
  try {
    const started = performance.now();
    const live = await pool.testProbabilities(entry.index, 1);
    if (detail.dataset.index !== String(entry.index)) return; // another image was clicked since
    const result = session.compareTestImage(entry.index, live.probabilities, performance.now() - started, live.backend);
    $("detail-live").replaceChildren(bars(result.probabilities, result.top, names));
    $("detail-stored").replaceChildren(bars(result.stored_probabilities, result.comparison.stored_predicted, names));
    const c = result.comparison;
    detail.dataset.agrees = String(c.agrees);
    $("detail-flag").textContent = c.agrees
      ? `Live (${result.backend}, ${result.millis.toFixed(1)} ms) agrees with the trainer: largest difference ${c.max_difference.toExponential(1)}.`
      : `DISAGREES with the trainer's stored answer: live ${names[c.predicted]}, stored ${names[c.stored_predicted]}, largest difference ${c.max_difference.toExponential(1)}.`;
  } catch (error) {
    $("detail-live").replaceChildren(message(error));
  }
}

function showProgress(p) {
  const out = $("evaluate-result");
  $("evaluate-progress").value = p.total ? p.done / p.total : 1;
  Object.assign(out.dataset, {
    finished: String(p.finished), done: String(p.done), total: String(p.total),
    accuracy: String(p.accuracy), storedAccuracy: String(p.stored_accuracy),
    disagreements: String(p.disagreements), maxDifference: String(p.max_difference),
    imagesPerSecond: String(p.images_per_second), backend: p.backend,
  });
  const verdict = p.disagreements === 0
    ? `every answer equals the trainer's (largest probability difference ${p.max_difference.toExponential(1)})`
    : `${p.disagreements} answers differ from the trainer's (first: #${p.first_disagreements.join(", #")})`;
  out.textContent = `${p.done}/${p.total} images on ${p.backend}: accuracy ${percent(p.accuracy)} `
    + `(trainer: ${percent(p.stored_accuracy)}) · ${p.images_per_second.toFixed(1)} img/s · ${verdict}`;
}

/// Evaluates the shipped images in rounds, each split across the pool's workers; the main
/// thread only slices the images and keeps the books between rounds. A new evaluation, a
/// backend switch or new weights cancel a running one.
async function evaluate({ session, pool }) {
  pool.cancel();
  const out = $("evaluate-result");
  delete out.dataset.finished;
  const limit = Number($("evaluate-limit").value) || undefined;
  try {
    session.startEvaluation(limit);
    // Rounds sized so that each takes about a quarter of a second.
    let perWorker = 4;
    for (;;) {
      const next = session.nextEvaluationBatch(perWorker * pool.parallelism);
      if (!next) break;
      const [start, count] = next;
      const started = performance.now();
      const batch = await pool.testProbabilities(start, count);
      const millis = performance.now() - started;
      showProgress(session.recordEvaluation(start, batch.probabilities, millis, batch.backend));
      if (millis < 150 && perWorker < 64) perWorker *= 2;
      else if (millis > 600 && perWorker > 1) perWorker = Math.ceil(perWorker / 2);
    }
  } catch (error) {
    if (error?.name === "CancelledError") {
      out.textContent = `Evaluation stopped: ${out.dataset.done ?? 0} images were done.`;
      out.dataset.finished = "cancelled";
      return;
    }
    out.textContent = `Evaluation failed: ${message(error)}`;
    out.dataset.finished = "error";
  }
}

async function open(app) {
  const { session } = app;
  const button = $("open-errors");
  button.disabled = true;
  try {
    const [report, images] = await Promise.all([
      fetch(REPORT).then((r) => { if (!r.ok) throw new Error(`${REPORT}: HTTP ${r.status}`); return r.text(); }),
      fetchWithProgress(IMAGES, $("test-set-progress")),
    ]);
    summary = session.loadTestSet(report, images);
    // The workers keep their own copy of the pixels; an evaluation then sends them index ranges.
    await app.pool.setTestImages(session.testPlanar(0, summary.images), summary.images);
    $("test-set-info").textContent = `${summary.images} shipped test images, ${summary.errors} misclassified: `
      + `accuracy ${percent(summary.accuracy)} as stored by the trainer for ${summary.weights}.`;
    classOptions($("filter-label"), summary.class_names);
    classOptions($("filter-predicted"), summary.class_names);
    drawConfusion(app);
    drawGallery(app);
    for (const id of ["filter-label", "filter-predicted", "errors-only", "sort"]) {
      $(id).addEventListener("change", () => {
        $("confusion").querySelectorAll(".cell.selected").forEach((b) => b.classList.remove("selected"));
        drawGallery(app);
      });
    }
    $("evaluate-button").addEventListener("click", () => evaluate(app));
    $("error-browser").hidden = false;
    button.hidden = true;
  } catch (error) {
    status(`The test images could not be loaded: ${message(error)}`, "error");
    button.disabled = false;
  }
}

export function setupTestSet(app) {
  $("open-errors").addEventListener("click", () => open(app));
}
