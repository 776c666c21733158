//! The JavaScript interface (wasm only). One `Session` class serves both sides of the page:
//! in a model worker (`web/worker.js`) it holds the model and computes; on the page's main
//! thread it holds the shipped test set and keeps the books of the error browser and of an
//! evaluation, whose probabilities the workers computed. Async work returns Promises built from
//! futures that own what they use (an `Rc` of the session).

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::{Probabilities, Tta};

use crate::classify::{Classification, prepare_rgba, to_rgba};
use crate::engine::Engine;
use crate::errors::PageError;
use crate::evaluation::{Comparison, Evaluation, compare};
use crate::test_set::{Entry, Filter, Sort, Summary, TestSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

struct State {
    backend: Backend,
    webgpu: Option<Device>,
    weights: Option<Rc<Vec<u8>>>,
    engine: Option<Rc<Engine>>,
    test_set: Option<Rc<TestSet>>,
    evaluation: Option<Evaluation>,
    /// On the main thread: the classes of the model the workers hold (for the test-set checks).
    model_classes: Option<Vec<String>>,
}

impl State {
    fn device(&self) -> Result<Device, PageError> {
        match (self.backend, &self.webgpu) {
            (Backend::WebGpu, Some(device)) => Ok(device.clone()),
            _ => cpu_device(),
        }
    }
}

/// The CPU backend compiled to WASM: flex (pure Rust), or with the `ndarray-cpu` feature Burn's
/// deprecated ndarray backend, kept only to measure the two against each other (BENCHMARKS.md).
#[cfg(any(feature = "cpu", feature = "ndarray-cpu"))]
fn cpu_device() -> Result<Device, PageError> {
    #[cfg(feature = "ndarray-cpu")]
    #[allow(deprecated)]
    return Ok(Device::ndarray());
    #[cfg(not(feature = "ndarray-cpu"))]
    Ok(Device::flex())
}

/// The WebGPU module is built without a CPU backend (web/gpu/): the page runs CPU work in
/// workers of the CPU-only module, so asking this one is the page's mistake, said plainly.
#[cfg(not(any(feature = "cpu", feature = "ndarray-cpu")))]
fn cpu_device() -> Result<Device, PageError> {
    Err(PageError::device(
        "this is the WebGPU-only module (cifar-web-gpu); the CPU backend runs in the cifar-web module",
    ))
}

/// Starts WebGPU: only the module built with the `webgpu` feature carries Burn's GPU backend
/// (three quarters of the code, BENCHMARKS.md); the CPU-only module says so.
#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device, PageError> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|err| PageError::device(format!("WebGPU is not available: {err}")))
}

#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, PageError> {
    Err(PageError::device(
        "this module is the CPU-only build; WebGPU runs in the cifar-web-gpu module",
    ))
}

/// Name of the CPU backend this build uses.
const CPU_KERNELS: &str = if cfg!(feature = "ndarray-cpu") {
    "ndarray"
} else if cfg!(feature = "cpu") {
    "flex"
} else {
    "none"
};

/// One page's model and device.
#[wasm_bindgen]
pub struct Session {
    state: Rc<RefCell<State>>,
}

/// The clock of the page or of the worker this runs in (`performance` of the global scope).
fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(0.0, |p| p.now())
}

/// Where the panic hook leaves the message of a Rust panic, for the worker to report: a panic
/// ends in a WebAssembly trap whose own message is only "unreachable".
const PANIC_GLOBAL: &str = "cifarPanic";

/// Runs when the module is instantiated: panics are logged and their message kept in
/// `globalThis.cifarPanic`.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("the model code crashed: {info}");
        web_sys::console::error_1(&JsValue::from_str(&message));
        let _ = js_sys::Reflect::set(
            &js_sys::global(),
            &JsValue::from_str(PANIC_GLOBAL),
            &JsValue::from_str(&message),
        );
    }));
}

/// Plain JS objects and arrays (not `Map`s, which `#[serde(flatten)]` would otherwise produce).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, PageError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| PageError::input(format!("cannot pass the result to the page: {err}")))
}

/// A JS `Error` whose `name` is the error's kind (`InputError` or `DeviceError`), decided by
/// the error itself: the page falls back from WebGPU to the CPU on a `DeviceError` only.
fn js_error(error: PageError) -> JsValue {
    let js = js_sys::Error::new(&error.message);
    js.set_name(error.kind.js_name());
    js.into()
}

/// A Promise of `work`'s result, errors passed to the page as [`js_error`]s.
fn promise(
    work: impl std::future::Future<Output = Result<JsValue, PageError>> + 'static,
) -> Promise {
    future_to_promise(async move { work.await.map_err(js_error) })
}

/// Runs the model on planar images and times it (the page's clock).
async fn timed(engine: &Engine, planar: &[u8]) -> Result<(Probabilities, f64), PageError> {
    let started = now();
    let probabilities = engine.probabilities(planar).await?;
    Ok((probabilities, now() - started))
}

#[derive(Serialize)]
struct ModelSummary<'a> {
    class_names: &'a [String],
    /// The architecture and its shape in words.
    description: String,
    config: &'a cifar_model::ModelConfig,
    training: &'a Option<cifar_model::TrainingSummary>,
    /// The TTA the answers use (the one the stated accuracy was measured with).
    tta: String,
}

#[derive(Serialize)]
struct ClassifyResult {
    #[serde(flatten)]
    classification: Classification,
    /// RGBA of the 32×32 image the model saw.
    model_view: Vec<u8>,
    backend: &'static str,
}

#[derive(Serialize)]
struct Batch {
    probabilities: Vec<f32>,
    classes: usize,
    millis: f64,
    backend: &'static str,
}

#[derive(Serialize)]
struct TestImageResult {
    #[serde(flatten)]
    classification: Classification,
    stored_probabilities: Vec<f32>,
    comparison: Comparison,
    backend: String,
}

#[derive(Serialize)]
struct Progress<'a> {
    #[serde(flatten)]
    evaluation: &'a Evaluation,
    finished: bool,
    accuracy: f64,
    stored_accuracy: f64,
    images_per_second: f64,
    backend: String,
}

impl State {
    fn engine(&self) -> Result<Rc<Engine>, PageError> {
        self.engine
            .clone()
            .ok_or_else(|| PageError::input("no model is loaded"))
    }

    fn test_set(&self) -> Result<Rc<TestSet>, PageError> {
        self.test_set
            .clone()
            .ok_or_else(|| PageError::input("the test images are not loaded"))
    }

    /// The test set, refused when the workers' model has other classes (a 5-class model cannot
    /// be scored against CIFAR-10's ten).
    fn test_set_for_model(&self) -> Result<Rc<TestSet>, PageError> {
        let classes = self
            .model_classes
            .as_ref()
            .ok_or_else(|| PageError::input("no model is loaded"))?;
        let test_set = self.test_set()?;
        test_set
            .report
            .check_model_classes(classes)
            .map_err(PageError::input)?;
        Ok(test_set)
    }

    /// The workers' probabilities (rows flattened) as rows of the report's classes, with the
    /// test set they are scored against.
    fn report_rows(&self, values: Vec<f32>) -> Result<(Rc<TestSet>, Probabilities), PageError> {
        let test_set = self.test_set_for_model()?;
        let rows = Probabilities::new(test_set.report.class_names.len(), values)?;
        Ok((test_set, rows))
    }
}

#[wasm_bindgen]
impl Session {
    /// A session on the CPU backend with no model yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Session {
        Session {
            state: Rc::new(RefCell::new(State {
                backend: Backend::Cpu,
                webgpu: None,
                weights: None,
                engine: None,
                test_set: None,
                evaluation: None,
                model_classes: None,
            })),
        }
    }

    /// Whether this module can run on WebGPU (built with the `webgpu` feature).
    #[wasm_bindgen(js_name = hasWebGpu)]
    pub fn has_webgpu(&self) -> bool {
        cfg!(feature = "webgpu")
    }

    /// The Burn backend behind `"cpu"` in this build: `"flex"`, `"ndarray"`, or `"none"` in the
    /// WebGPU-only module.
    #[wasm_bindgen(js_name = cpuKernels)]
    pub fn cpu_kernels(&self) -> String {
        CPU_KERNELS.to_string()
    }

    /// The active backend: `"webgpu"` or `"cpu"`.
    pub fn backend(&self) -> String {
        self.state.borrow().backend.name().to_string()
    }

    /// Switches to WebGPU (initialising it the first time). Rejects with the reason when the
    /// browser has no adapter or initialisation fails; the session then stays on its backend.
    #[wasm_bindgen(js_name = useWebGpu)]
    pub fn use_webgpu(&self) -> Promise {
        let state = self.state.clone();
        promise(async move {
            let existing = state.borrow().webgpu.clone();
            let device = match existing {
                Some(device) => device,
                None => {
                    let device = webgpu_device().await?;
                    state.borrow_mut().webgpu = Some(device.clone());
                    device
                }
            };
            switch(&state, Backend::WebGpu, &device)?;
            Ok(JsValue::from_str("webgpu"))
        })
    }

    /// Switches to the CPU backend (in every module but the WebGPU-only one).
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&self) -> Result<String, JsValue> {
        let device = cpu_device().map_err(js_error)?;
        switch(&self.state, Backend::Cpu, &device).map_err(js_error)?;
        Ok("cpu".into())
    }

    /// Loads a safetensors file from the trainer. On error the current model stays.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, bytes: Vec<u8>) -> Result<JsValue, JsValue> {
        let device = self.state.borrow().device().map_err(js_error)?;
        let engine = Engine::load(&bytes, &device).map_err(js_error)?;
        let summary = to_js(&ModelSummary {
            class_names: &engine.info.class_names,
            description: engine.info.config.describe(),
            config: &engine.info.config,
            training: &engine.info.training,
            tta: engine.tta().to_string(),
        })
        .map_err(js_error)?;
        let mut state = self.state.borrow_mut();
        state.weights = Some(Rc::new(bytes));
        state.engine = Some(Rc::new(engine));
        Ok(summary)
    }

    /// Classifies an image the browser decoded: `rgba` holds `width × height` RGBA pixels (not
    /// premultiplied). Resolves to `{probabilities, top, millis, model_view, backend}`; rejects
    /// with a message when no model is loaded or the pixels do not make the stated image.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let state = self.state.clone();
        promise(async move {
            let (engine, backend) = current(&state)?;
            let prepared = prepare_rgba(rgba, width, height)?;
            let (probabilities, millis) = timed(&engine, &prepared.planar).await?;
            to_js(&ClassifyResult {
                classification: Classification::new(probabilities.into_values(), millis),
                model_view: to_rgba(&prepared.model_view),
                backend: backend.name(),
            })
        })
    }

    /// Class probabilities of planar images back to back (a batch, or one worker's share of
    /// it): resolves to `{probabilities (rows flattened), classes, millis, backend}`.
    pub fn probabilities(&self, planar: Vec<u8>) -> Promise {
        let state = self.state.clone();
        promise(async move {
            let (engine, backend) = current(&state)?;
            let (probabilities, millis) = timed(&engine, &planar).await?;
            to_js(&Batch {
                classes: probabilities.classes(),
                probabilities: probabilities.into_values(),
                millis,
                backend: backend.name(),
            })
        })
    }

    /// The test-time augmentation answers use: `none`, `flip` or `multi`.
    pub fn tta(&self) -> Result<String, JsValue> {
        let (engine, _) = current(&self.state).map_err(js_error)?;
        Ok(engine.tta().to_string())
    }

    /// Sets the test-time augmentation (`none`, `flip`, `multi`; `default` for the one the
    /// model's accuracy was measured with); returns the one now in use.
    #[wasm_bindgen(js_name = setTta)]
    pub fn set_tta(&self, name: String) -> Result<String, JsValue> {
        let (engine, _) = current(&self.state).map_err(js_error)?;
        let tta = match name.as_str() {
            "default" => engine.default_tta(),
            other => other
                .parse::<Tta>()
                .map_err(|problem| js_error(PageError::input(problem)))?,
        };
        engine.set_tta(tta);
        Ok(tta.to_string())
    }

    /// A Rust panic, on purpose: the browser test uses it to check that a panic's message
    /// reaches the page (through the panic hook) and that the worker is replaced.
    #[wasm_bindgen(js_name = crashForTest)]
    pub fn crash_for_test(&self, message: String) {
        panic!("{message}");
    }

    /// Runs the model once on a blank image so that the first real prediction is not the one
    /// that compiles the kernels.
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up(&self) -> Promise {
        let state = self.state.clone();
        promise(async move {
            let (engine, _) = current(&state)?;
            let (_, millis) = timed(&engine, &[128u8; IMAGE_BYTES]).await?;
            Ok(JsValue::from_f64(millis))
        })
    }
}

/// The error browser and the bookkeeping of an in-browser evaluation (main thread).
#[wasm_bindgen]
impl Session {
    /// Loads the trainer's test report (JSON text) and its images; resolves to the summary
    /// (accuracy, per-class accuracy, confusion matrix). Throws with the reason for a bad pair.
    #[wasm_bindgen(js_name = loadTestSet)]
    pub fn load_test_set(&self, report_json: String, images: Vec<u8>) -> Result<JsValue, JsValue> {
        let test_set = TestSet::new(&report_json, images)
            .map_err(PageError::input)
            .map_err(js_error)?;
        let summary: Summary = test_set.summary();
        let mut state = self.state.borrow_mut();
        state.test_set = Some(Rc::new(test_set));
        state.evaluation = None;
        to_js(&summary).map_err(js_error)
    }

    /// Gallery entries `{index, label, predicted, confidence}`: classes are indices or
    /// `undefined` for any; `sort` is `index`, `confidence-desc` or `confidence-asc`.
    pub fn gallery(
        &self,
        label: Option<u32>,
        predicted: Option<u32>,
        errors_only: bool,
        sort: &str,
    ) -> Result<JsValue, JsValue> {
        let entries = || -> Result<Vec<Entry>, PageError> {
            let test_set = self.state.borrow().test_set()?;
            let filter = Filter {
                label: label.map(|c| c as usize),
                predicted: predicted.map(|c| c as usize),
                errors_only,
            };
            Ok(test_set.gallery(filter, Sort::parse(sort).map_err(PageError::input)?))
        };
        entries().and_then(|e| to_js(&e)).map_err(js_error)
    }

    /// RGBA bytes of shipped test image `index` (32×32).
    #[wasm_bindgen(js_name = testImage)]
    pub fn test_image(&self, index: usize) -> Result<Vec<u8>, JsValue> {
        let test_set = self.state.borrow().test_set().map_err(js_error)?;
        test_set
            .rgba(index)
            .map_err(PageError::input)
            .map_err(js_error)
    }

    /// Planar bytes of shipped test images `start..start + count`, for the model workers.
    #[wasm_bindgen(js_name = testPlanar)]
    pub fn test_planar(&self, start: usize, count: usize) -> Result<Vec<u8>, JsValue> {
        let test_set = self.state.borrow().test_set().map_err(js_error)?;
        test_set
            .planar(start, count)
            .map(<[u8]>::to_vec)
            .map_err(PageError::input)
            .map_err(js_error)
    }

    /// Tells the main thread's session the classes of the model the workers hold (or none).
    #[wasm_bindgen(js_name = setModelClasses)]
    pub fn set_model_classes(&self, class_names: Option<Vec<String>>) {
        let mut state = self.state.borrow_mut();
        state.model_classes = class_names;
        state.evaluation = None;
    }

    /// Compares live probabilities of shipped test image `index` (computed by a worker in
    /// `millis` on `backend`) with the stored ones: `{probabilities, top, millis,
    /// stored_probabilities, comparison, backend}`. Refused when the model's classes are not
    /// the report's.
    #[wasm_bindgen(js_name = compareTestImage)]
    pub fn compare_test_image(
        &self,
        index: usize,
        probabilities: Vec<f32>,
        millis: f64,
        backend: String,
    ) -> Result<JsValue, JsValue> {
        let result = || -> Result<JsValue, PageError> {
            let (test_set, rows) = self.state.borrow().report_rows(probabilities)?;
            test_set.planar(index, 1).map_err(PageError::input)?; // the index exists
            if rows.len() != 1 {
                return Err(PageError::input(format!(
                    "{} rows of probabilities for one test image",
                    rows.len()
                )));
            }
            let row = rows.into_values();
            to_js(&TestImageResult {
                comparison: compare(&test_set.report, index, &row),
                stored_probabilities: test_set.report.probabilities[index].clone(),
                classification: Classification::new(row, millis),
                backend,
            })
        };
        result().map_err(js_error)
    }

    /// Starts an evaluation over the first `limit` shipped test images (all when undefined);
    /// returns how many it will cover. Refused when the model's classes are not the report's.
    #[wasm_bindgen(js_name = startEvaluation)]
    pub fn start_evaluation(&self, limit: Option<usize>) -> Result<usize, JsValue> {
        let test_set = self.state.borrow().test_set_for_model().map_err(js_error)?;
        let total = limit.map_or(test_set.len(), |l| l.min(test_set.len()));
        self.state.borrow_mut().evaluation = Some(Evaluation::new(total));
        Ok(total)
    }

    /// The next images of the running evaluation, at most `batch`: `[start, count]`, or
    /// `undefined` when it is finished.
    #[wasm_bindgen(js_name = nextEvaluationBatch)]
    pub fn next_evaluation_batch(&self, batch: usize) -> Result<Option<Vec<usize>>, JsValue> {
        let state = self.state.borrow();
        let evaluation = state
            .evaluation
            .as_ref()
            .ok_or_else(|| js_error(PageError::input("no evaluation is running")))?;
        Ok(evaluation
            .next_batch(batch)
            .map(|(start, count)| vec![start, count]))
    }

    /// Records the workers' probabilities (rows flattened) for the images from `start`,
    /// computed in `millis` of wall time on `backend`; returns the progress (`done`, `total`,
    /// `accuracy`, `stored_accuracy`, `disagreements`, `max_difference`, `images_per_second`,
    /// `finished`, `backend`).
    #[wasm_bindgen(js_name = recordEvaluation)]
    pub fn record_evaluation(
        &self,
        start: usize,
        probabilities: Vec<f32>,
        millis: f64,
        backend: String,
    ) -> Result<JsValue, JsValue> {
        let progress = || -> Result<JsValue, PageError> {
            let (test_set, rows) = self.state.borrow().report_rows(probabilities)?;
            let mut state = self.state.borrow_mut();
            let evaluation = state
                .evaluation
                .as_mut()
                .ok_or_else(|| PageError::input("no evaluation is running"))?;
            evaluation.record(&test_set.report, start, &rows, millis)?;
            to_js(&Progress {
                evaluation,
                finished: evaluation.finished(),
                accuracy: evaluation.accuracy(),
                stored_accuracy: evaluation.stored_accuracy(&test_set.report),
                images_per_second: evaluation.images_per_second(),
                backend,
            })
        };
        progress().map_err(js_error)
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// The loaded model and the backend it runs on.
fn current(state: &Rc<RefCell<State>>) -> Result<(Rc<Engine>, Backend), PageError> {
    let state = state.borrow();
    Ok((state.engine()?, state.backend))
}

/// Moves the loaded model (if any) to `device`; on failure nothing changes. The weights were
/// read once already, so a failure here is the device's.
fn switch(state: &Rc<RefCell<State>>, backend: Backend, device: &Device) -> Result<(), PageError> {
    let (weights, tta) = {
        let state = state.borrow();
        (
            state.weights.clone(),
            state.engine.as_ref().map(|e| e.tta()),
        )
    };
    let engine = match weights {
        Some(bytes) => {
            let engine =
                Engine::load(&bytes, device).map_err(|err| PageError::device(err.message))?;
            // The page's TTA choice survives a backend switch.
            if let Some(tta) = tta {
                engine.set_tta(tta);
            }
            Some(Rc::new(engine))
        }
        None => None,
    };
    let mut state = state.borrow_mut();
    state.backend = backend;
    if engine.is_some() {
        state.engine = engine;
    }
    Ok(())
}
