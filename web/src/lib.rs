//! The browser app's Rust side: the shared model on WebGPU (or the CPU), exposed to the page's
//! JavaScript through [`bindings`]. Everything but the bindings is plain Rust and tested natively.

pub mod classify;
pub mod engine;
pub mod errors;
pub mod evaluation;
pub mod test_set;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
