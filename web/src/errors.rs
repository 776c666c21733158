//! Errors that reach the page, with their kind as a type: the page falls back from WebGPU to
//! the CPU on a [`ErrorKind::Device`] error and only then, since an input error (a file that is
//! not an image, weights that do not fit, a bad request) would fail on any backend.

use cifar_model::WeightsError;
use cifar_model::inference::{ClassCountMismatch, InferenceError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's file or request.
    Input,
    /// The device failed: a lost GPU, a failed read-back.
    Device,
}

impl ErrorKind {
    /// The `name` of the JS `Error` the page receives.
    pub fn js_name(self) -> &'static str {
        match self {
            ErrorKind::Input => "InputError",
            ErrorKind::Device => "DeviceError",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PageError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PageError {
    pub fn input(message: impl std::fmt::Display) -> Self {
        Self {
            kind: ErrorKind::Input,
            message: message.to_string(),
        }
    }

    pub fn device(message: impl std::fmt::Display) -> Self {
        Self {
            kind: ErrorKind::Device,
            message: message.to_string(),
        }
    }
}

impl From<InferenceError> for PageError {
    fn from(error: InferenceError) -> Self {
        match error {
            InferenceError::Device(_) => Self::device(error),
            InferenceError::Input(_) | InferenceError::Classes(_) => Self::input(error),
        }
    }
}

impl From<ClassCountMismatch> for PageError {
    fn from(error: ClassCountMismatch) -> Self {
        Self::input(error)
    }
}

/// A weights file that cannot be read is the user's; applying it on a device is not checked
/// here (see `Engine::load`).
impl From<WeightsError> for PageError {
    fn from(error: WeightsError) -> Self {
        Self::input(error)
    }
}
