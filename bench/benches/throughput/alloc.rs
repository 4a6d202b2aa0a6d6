//! A counting global allocator: `System`, plus the live heap size while a measurement is on.
//!
//! Counting is switched on only around the memory scenario, so the throughput scenarios pay one
//! relaxed load of a flag that never changes under them, not a contended counter per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// Whether allocations are being counted now.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Bytes allocated minus bytes freed since counting was switched on (requested sizes, so the
/// allocator's own per-block overhead is not included).
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// `System`, counting the live heap while [`start`] is in force.
#[derive(Debug)]
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the same arguments; the counting only reads
// the layout and the returned pointer's nullness.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) };
        grew(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`; the caller upholds `realloc`'s contract for `new_size`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            grew(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Records a change of the live heap, if counting is on.
#[inline]
fn grew(bytes: isize) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_add(bytes, Relaxed);
    }
}

/// Starts counting from zero. Frees of blocks allocated before this count too (they are real
/// decreases of the heap), so only differences between two [`live`] readings mean anything.
pub fn start() {
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
}

/// Stops counting.
pub fn stop() {
    COUNTING.store(false, Relaxed);
}

/// The live-heap counter now (see [`start`]).
pub fn live() -> isize {
    LIVE.load(Relaxed)
}
