//! The page's WebGPU module: the same bindings as `cifar-web`'s own module, built with Burn's
//! wgpu backend and without the CPU backend (the CPU workers run the CPU-only module). A
//! separate crate because a cargo package builds one feature set per build, and the page needs
//! both modules: this one (the GPU kernel generator) only in the worker that runs on WebGPU, the
//! CPU-only one everywhere else. Re-exporting the crate links its `#[wasm_bindgen]` items into
//! this module. trunk builds it with the workspace's size-optimised `web-gpu` profile.

pub use cifar_web::*;
