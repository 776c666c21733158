//! The CIFAR-10 ResNet family shared by the native trainer and the browser app.
//!
//! No file or network I/O: callers hand in bytes and decoded images. Builds for native targets
//! and `wasm32-unknown-unknown`.

pub mod block;
pub mod classes;
pub mod config;
pub mod fast;
pub mod fold;
pub mod inference;
pub mod metadata;
pub mod model;
pub mod preprocess;
pub mod report;
pub mod resnet;
pub mod weights;

pub use classes::{CLASS_NAMES, NUM_CLASSES};
pub use config::{ModelConfig, ResNetConfig};
pub use fast::{FastResNet, FastResNetConfig};
pub use fold::{FoldedFastResNet, FoldedResNet};
pub use inference::{Classifier, Probabilities, Scored, Tta};
pub use metadata::{DataSummary, ModelInfo, TrainingSummary};
pub use model::{FoldedModel, Model};
pub use preprocess::Normalization;
pub use resnet::ResNet;
pub use weights::{Layout, Precision, WeightsError, load_model, read_header, to_safetensors};
