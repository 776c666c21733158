//! glibc's allocator settings for tensor-sized buffers.
//!
//! By default glibc serves every allocation above a threshold (128 KiB at start, raised
//! dynamically up to 32 MiB) with its own `mmap` and gives it back with `munmap` when freed. The CPU
//! backend allocates and frees activation-sized buffers on every operation (256 MiB for the fast
//! net's first layers at batch 1024), so each of them comes back as fresh zero pages, faulted in
//! one 4 KiB page at a time: the 12-epoch run shipped before this fix spent 2,071 of its 7,433 CPU-seconds in the
//! kernel (512 million minor faults). A fixed threshold above those sizes keeps freed buffers in
//! the heap for reuse (BENCHMARKS.md, "2026-11-29 (fourth session)", has the measured effect).
//! The heap is never trimmed either: with a trim threshold of 1 GiB, the fast net's training
//! step (1.5 GB of activations at batch 1024) still left more than that free at the top of the
//! heap after each step, gave it back and faulted it in again on the next one, three times the
//! page faults of touching the memory once ("sixth session"). Buffers allocated by threads
//! other than the main one beyond their arena's 64 MiB heaps are still mapped one by one.

/// Allocations at least this large get their own mapping (glibc 2.36 accepts any `int`).
pub const MMAP_THRESHOLD: usize = 1 << 30;
/// Free memory at the top of the heap above this is returned to the system; `None` never
/// (glibc's `-1`): the process keeps its peak heap, which training reaches every step anyway.
pub const TRIM_THRESHOLD: Option<usize> = None;

/// What [`keep_freed_buffers`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorSetting {
    /// The thresholds above are in force.
    Pinned,
    /// The user set glibc's own variables; they are left alone.
    LeftToEnvironment,
    /// Not glibc: nothing to set.
    NotGlibc,
}

/// Pins glibc's `mmap` and trim thresholds unless `MALLOC_MMAP_THRESHOLD_`,
/// `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` is set. Call before the first tensor exists.
pub fn keep_freed_buffers() -> Result<AllocatorSetting, String> {
    let user_set = [
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "GLIBC_TUNABLES",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if user_set {
        return Ok(AllocatorSetting::LeftToEnvironment);
    }
    pin(MMAP_THRESHOLD, TRIM_THRESHOLD)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin(mmap_threshold: usize, trim_threshold: Option<usize>) -> Result<AllocatorSetting, String> {
    let int = |name: &str, value: usize| {
        libc::c_int::try_from(value)
            .map_err(|_| format!("{name} = {value} does not fit glibc's int"))
    };
    for (name, param, value) in [
        (
            "M_MMAP_THRESHOLD",
            libc::M_MMAP_THRESHOLD,
            int("M_MMAP_THRESHOLD", mmap_threshold)?,
        ),
        (
            "M_TRIM_THRESHOLD",
            libc::M_TRIM_THRESHOLD,
            match trim_threshold {
                Some(bytes) => int("M_TRIM_THRESHOLD", bytes)?,
                None => -1,
            },
        ),
    ] {
        // SAFETY: mallopt only reads its two integer arguments; it returns 0 when it refuses them.
        if unsafe { libc::mallopt(param, value) } != 1 {
            return Err(format!("glibc refused mallopt({name}, {value})"));
        }
    }
    Ok(AllocatorSetting::Pinned)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin(_mmap_threshold: usize, _trim_threshold: Option<usize>) -> Result<AllocatorSetting, String> {
    Ok(AllocatorSetting::NotGlibc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_freed_activation_sized_buffer_is_reused_from_the_heap_not_mapped_again() {
        assert_eq!(
            pin(MMAP_THRESHOLD, TRIM_THRESHOLD),
            Ok(AllocatorSetting::Pinned)
        );
        // 16 MiB: above glibc's default threshold (128 KiB, at most 32 MiB after adjustment
        // only once a mapped block of that size was freed), within a thread arena's heap.
        const BYTES: usize = 16 << 20;
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let mapped = || unsafe { libc::mallinfo2() }.hblkhd;
        for _ in 0..2 {
            let before = mapped();
            let buffer = vec![1u8; BYTES];
            let during = mapped();
            drop(std::hint::black_box(buffer));
            assert!(
                during < before + BYTES,
                "a {BYTES}-byte buffer was mapped on its own ({before} → {during} mapped bytes)"
            );
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_threshold_beyond_glibc_s_int_is_an_error_naming_it() {
        let error = pin(1 << 40, TRIM_THRESHOLD).unwrap_err();
        assert!(error.contains("M_MMAP_THRESHOLD"), "{error}");
        let error = pin(MMAP_THRESHOLD, Some(1 << 40)).unwrap_err();
        assert!(error.contains("M_TRIM_THRESHOLD"), "{error}");
        assert_eq!(
            pin(MMAP_THRESHOLD, TRIM_THRESHOLD),
            Ok(AllocatorSetting::Pinned)
        );
    }
}
