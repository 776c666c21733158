//! The JavaScript interface (wasm only). Async work returns Promises built from futures that own
//! what they use (an `Rc` of the session), so the page stays responsive while the GPU works.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::classify::{Classification, prepare, to_rgba};
use crate::engine::Engine;

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
}

impl State {
    fn device(&self) -> Device {
        match (self.backend, &self.webgpu) {
            (Backend::WebGpu, Some(device)) => device.clone(),
            _ => Device::flex(),
        }
    }
}

/// One page's model and device.
#[wasm_bindgen]
pub struct Session {
    state: Rc<RefCell<State>>,
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Plain JS objects and arrays (not `Map`s, which `#[serde(flatten)]` would otherwise produce).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| JsValue::from_str(&err.to_string()))
}

#[derive(Serialize)]
struct ModelSummary<'a> {
    class_names: &'a [String],
    config: &'a cifar_model::ResNetConfig,
    training: &'a Option<cifar_model::TrainingSummary>,
}

#[derive(Serialize)]
struct ClassifyResult {
    #[serde(flatten)]
    classification: Classification,
    /// RGBA of the 32×32 image the model saw.
    model_view: Vec<u8>,
    backend: &'static str,
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
            })),
        }
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
        future_to_promise(async move {
            let existing = state.borrow().webgpu.clone();
            let device = match existing {
                Some(device) => device,
                None => {
                    let device = Device::wgpu_options().init_async().await.map_err(|err| {
                        JsValue::from_str(&format!("WebGPU is not available: {err}"))
                    })?;
                    state.borrow_mut().webgpu = Some(device.clone());
                    device
                }
            };
            switch(&state, Backend::WebGpu, &device)?;
            Ok(JsValue::from_str("webgpu"))
        })
    }

    /// Switches to the CPU backend (always available).
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&self) -> Result<String, JsValue> {
        switch(&self.state, Backend::Cpu, &Device::flex())?;
        Ok("cpu".into())
    }

    /// Loads a safetensors file from the trainer. On error the current model stays.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, bytes: Vec<u8>) -> Result<JsValue, JsValue> {
        let device = self.state.borrow().device();
        let engine = Engine::load(&bytes, &device).map_err(|err| JsValue::from_str(&err))?;
        let summary = to_js(&ModelSummary {
            class_names: &engine.info.class_names,
            config: &engine.info.config,
            training: &engine.info.training,
        })?;
        let mut state = self.state.borrow_mut();
        state.weights = Some(Rc::new(bytes));
        state.engine = Some(Rc::new(engine));
        Ok(summary)
    }

    /// Classifies one image file's bytes: resolves to `{probabilities, top, millis, model_view,
    /// backend}`, rejects with a message for a file that is not an image or when no model is
    /// loaded.
    pub fn classify(&self, bytes: Vec<u8>) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let (engine, backend) = {
                let state = state.borrow();
                let engine = state
                    .engine
                    .clone()
                    .ok_or_else(|| JsValue::from_str("no model is loaded"))?;
                (engine, state.backend)
            };
            let prepared = prepare(&bytes).map_err(|err| JsValue::from_str(&err))?;
            let started = now();
            let probabilities = engine
                .probabilities(&prepared.planar)
                .await
                .map_err(|err| JsValue::from_str(&err))?;
            to_js(&ClassifyResult {
                classification: Classification::new(probabilities, now() - started),
                model_view: to_rgba(&prepared.model_view),
                backend: backend.name(),
            })
        })
    }

    /// Runs the model once on a blank image so that the first real prediction is not the one
    /// that compiles the kernels.
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up(&self) -> Promise {
        let engine = self.state.borrow().engine.clone();
        future_to_promise(async move {
            let engine = engine.ok_or_else(|| JsValue::from_str("no model is loaded"))?;
            let started = now();
            engine
                .probabilities(&vec![128u8; cifar_model::preprocess::IMAGE_BYTES])
                .await
                .map_err(|err| JsValue::from_str(&err))?;
            Ok(JsValue::from_f64(now() - started))
        })
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// Moves the loaded model (if any) to `device`; on failure nothing changes.
fn switch(state: &Rc<RefCell<State>>, backend: Backend, device: &Device) -> Result<(), JsValue> {
    let weights = state.borrow().weights.clone();
    let engine = match weights {
        Some(bytes) => Some(Rc::new(
            Engine::load(&bytes, device).map_err(|err| JsValue::from_str(&err))?,
        )),
        None => None,
    };
    let mut state = state.borrow_mut();
    state.backend = backend;
    if engine.is_some() {
        state.engine = engine;
    }
    Ok(())
}
