//! Choosing where to compute: a wgpu GPU when there is one, else Burn's flex CPU backend.

use burn::tensor::{Device, DeviceKind, DeviceType};
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// wgpu on a GPU if one exists, else the CPU backend.
    Auto,
    /// wgpu (WebGPU/Vulkan/Metal); picks the best adapter, a software one if nothing else.
    Wgpu,
    /// Burn's flex CPU backend.
    Cpu,
}

/// A device and the reason it was chosen, printed for the user.
pub struct Selected {
    pub device: Device,
    pub description: String,
}

/// Hardware adapter kinds, in order of preference.
const GPU_KINDS: [DeviceKind; 3] = [
    DeviceKind::DiscreteGpu(0),
    DeviceKind::IntegratedGpu(0),
    DeviceKind::VirtualGpu(0),
];

/// Whether wgpu reports any adapter at all, a software one included.
pub fn wgpu_available() -> bool {
    !Device::enumerate(DeviceType::Wgpu).into_vec().is_empty()
}

/// The first hardware GPU adapter wgpu reports, if any.
fn find_gpu() -> Option<DeviceKind> {
    let adapters = Device::enumerate(DeviceType::Wgpu).into_vec();
    GPU_KINDS.into_iter().find(|kind| {
        adapters
            .iter()
            .any(|adapter| *adapter == Device::wgpu(kind.clone()))
    })
}

pub fn select(choice: DeviceChoice) -> Selected {
    match choice {
        DeviceChoice::Cpu => Selected {
            device: Device::flex(),
            description: "cpu (flex backend), as requested".into(),
        },
        DeviceChoice::Wgpu => match find_gpu() {
            Some(kind) => Selected {
                description: format!("wgpu {kind:?}, as requested"),
                device: Device::wgpu(kind),
            },
            // A software rasteriser (Mesa lavapipe) enumerates as a CPU adapter.
            None => Selected {
                device: Device::wgpu(DeviceKind::Cpu),
                description: "wgpu software adapter, as requested (no GPU adapter found: \
                              slow, for testing the wgpu path)"
                    .into(),
            },
        },
        DeviceChoice::Auto => match find_gpu() {
            Some(kind) => Selected {
                description: format!("wgpu {kind:?}: a GPU adapter was found"),
                device: Device::wgpu(kind),
            },
            None => Selected {
                device: Device::flex(),
                description: "cpu (flex backend): wgpu reports no GPU adapter".into(),
            },
        },
    }
}
