//! The trainer's allocator setting (`cifar_trainer::allocator`) keeps freed memory at the top of
//! glibc's heap instead of giving it back to the system, which the next training step would
//! fault in again page by page. Runs without the test harness (`harness = false` in
//! Cargo.toml): trimming happens in the main thread's heap, and the harness runs each test on a
//! thread of its own, whose arena behaves differently.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    use cifar_trainer::allocator::{AllocatorSetting, MMAP_THRESHOLD, keep_freed_buffers};
    use std::hint::black_box;

    // Two buffers under the mmap threshold, 1.2 GiB together: freed, they leave more than
    // 1 GiB free at the top of the heap. Never written, so they cost address space only.
    const PART: usize = 600 << 20;
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let heap = || unsafe { libc::mallinfo2() }.arena;
    let allocate_and_free = || {
        let first = black_box(Vec::<u8>::with_capacity(PART));
        let second = black_box(Vec::<u8>::with_capacity(PART));
        let during = heap();
        drop(black_box(second));
        drop(black_box(first));
        (during, heap())
    };

    // First the trim threshold the trainer set before (1 GiB): glibc gives the memory back,
    // which shows that this check can see trimming at all.
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD).expect("the mmap threshold fits an int");
    // SAFETY: mallopt only reads its two integer arguments.
    unsafe {
        assert_eq!(libc::mallopt(libc::M_MMAP_THRESHOLD, threshold), 1);
        assert_eq!(libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30), 1);
    }
    let (during, after) = allocate_and_free();
    assert!(
        during >= 2 * PART,
        "the buffers did not come from the heap ({during} bytes in it)"
    );
    assert!(
        after < during - PART,
        "with a 1 GiB trim threshold the heap kept {after} of {during} bytes: this check cannot see trimming"
    );

    // The trainer's own setting: the freed memory stays in the heap for the next step.
    assert_eq!(keep_freed_buffers(), Ok(AllocatorSetting::Pinned));
    let (during, after) = allocate_and_free();
    assert!(
        during >= 2 * PART,
        "the buffers did not come from the heap ({during} bytes in it)"
    );
    assert!(
        after >= during,
        "the trainer's setting gave memory back: the heap went from {during} to {after} bytes"
    );
    println!(
        "heap_trim: 1 GiB threshold trimmed the heap; the trainer's setting kept {after} bytes"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("heap_trim: not glibc, nothing to check");
}
