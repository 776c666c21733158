//! The native trainer for the CIFAR-10 ResNet family: data, augmentation, training, evaluation,
//! prediction, export, download and benchmarks. `main.rs` only parses the command line.

pub mod allocator;
pub mod augment;
pub mod averaging;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod device;
pub mod download;
pub mod eval;
pub mod evaluate;
pub mod fsutil;
pub mod half_precision;
pub mod init;
pub mod metrics;
pub mod param_groups;
pub mod plot;
pub mod predict;
pub mod profile;
pub mod report;
pub mod schedule;
pub mod settings;
pub mod training;
pub mod web_export;
pub mod weights_file;
