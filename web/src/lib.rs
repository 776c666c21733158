//! The browser app's Rust side: the shared model on WebGPU (or the CPU), exposed to the page's
//! JavaScript through [`bindings`]. Everything but the bindings is plain Rust and tested natively.

pub mod classify;
pub mod engine;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
