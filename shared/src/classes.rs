//! CIFAR-10 class names in label order (as in `batches.meta.txt`).

/// The ten CIFAR-10 classes, indexed by label.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Number of CIFAR-10 classes.
pub const NUM_CLASSES: usize = CLASS_NAMES.len();
