//! The binary's global allocator: glibc's (the system's) until the process turns out to serve
//! many sessions over HTTP, mimalloc from then on.
//!
//! Why both: over HTTP, calls run on every worker thread and their blocks are freed on
//! whichever thread the task ends on; glibc's allocator then waits on other threads' arena
//! locks (futex waits under `realloc` and `free` in a `perf` profile of the load) and mimalloc's
//! per-thread pages do not. Measured with `cargo xtask bench --http-only`, alternating builds:
//! the server's CPU per call against the bare server's fell by about a sixth as a user runs it
//! and by a fifth with `--sandbox` (BENCHMARKS.md, "HTTP, sixth session"). Over stdio one client is served, and
//! mimalloc's pages, one size class each, kept more memory resident: peak RSS after a full
//! tools/list was 28.5 MiB against 11.5 MiB with glibc's allocator (with one arena, `cli.rs`).
//!
//! The choice is made after the command line is parsed, so blocks allocated before it
//! (arguments, logging) come from glibc's allocator and may be freed after it: every free and
//! reallocation goes to the allocator that owns the block (`mi_is_in_heap_region`, a page-map
//! lookup), whatever the current choice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// The global allocator of the `pfsense-mcp` binary (`main.rs`).
pub struct ByTransport {
    /// New blocks come from mimalloc. Only ever turned on, once.
    thread_caching: AtomicBool,
}

impl ByTransport {
    pub const fn new() -> ByTransport {
        ByTransport {
            thread_caching: AtomicBool::new(false),
        }
    }

    /// From now on new blocks come from mimalloc (a server of many sessions over HTTP).
    pub fn cache_per_thread(&self) {
        self.thread_caching.store(true, Ordering::Release);
    }

    /// The allocator new blocks come from.
    fn for_new_blocks(&self) -> &'static dyn GlobalAlloc {
        if self.thread_caching.load(Ordering::Acquire) {
            &mimalloc::MiMalloc
        } else {
            &System
        }
    }

    /// The allocator that handed out `ptr`, which frees and resizes it.
    fn owner_of(&self, ptr: *mut u8) -> &'static dyn GlobalAlloc {
        if self.mimalloc_owns(ptr) {
            &mimalloc::MiMalloc
        } else {
            &System
        }
    }

    /// Whether mimalloc owns `ptr`. Before the switch it owns nothing, and a server over stdio
    /// never pays for the lookup.
    fn mimalloc_owns(&self, ptr: *mut u8) -> bool {
        self.thread_caching.load(Ordering::Acquire)
            // SAFETY: a lookup of an address in mimalloc's page map; any address may be
            // asked (one outside the map, or before mimalloc set the map up, is not its own).
            && unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) }
    }
}

impl Default for ByTransport {
    fn default() -> ByTransport {
        ByTransport::new()
    }
}

// SAFETY: every block is freed and reallocated by the allocator that handed it out
// (`owner_of`), and each of the two is a correct `GlobalAlloc`.
unsafe impl GlobalAlloc for ByTransport {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { self.for_new_blocks().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { self.for_new_blocks().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` goes back to the allocator that handed it out.
        unsafe { self.owner_of(ptr).dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is resized by the allocator that handed it out.
        unsafe { self.owner_of(ptr).realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks from before the switch are freed and grown by glibc's allocator after it, blocks
    /// from after it by mimalloc, their contents kept. (Its own instance: the test binary's
    /// global allocator is the system's.)
    #[test]
    fn blocks_from_before_and_after_the_switch_go_back_to_their_own_allocator() {
        let allocator = ByTransport::new();
        let small = Layout::from_size_align(24, 8).unwrap();
        let aligned = Layout::from_size_align(100, 64).unwrap();
        // SAFETY: each block is written within its layout and freed once with it.
        unsafe {
            let before = allocator.alloc(small);
            let before_aligned = allocator.alloc_zeroed(aligned);
            assert!(!before.is_null() && !before_aligned.is_null());
            before.write_bytes(7, small.size());
            assert!(!allocator.mimalloc_owns(before));

            allocator.cache_per_thread();
            let after = allocator.alloc(small);
            assert!(!after.is_null());
            after.write_bytes(9, small.size());
            assert!(
                allocator.mimalloc_owns(after),
                "mimalloc hands out blocks after the switch"
            );
            assert!(
                !allocator.mimalloc_owns(before),
                "glibc's block stays glibc's"
            );

            // Grown by the owner, contents kept.
            let before = allocator.realloc(before, small, 4096);
            assert!(!allocator.mimalloc_owns(before));
            assert!((0..small.size()).all(|i| *before.add(i) == 7));
            let after = allocator.realloc(after, small, 4096);
            assert!(allocator.mimalloc_owns(after));
            assert!((0..small.size()).all(|i| *after.add(i) == 9));

            let zeroed = allocator.alloc_zeroed(aligned);
            assert_eq!(zeroed as usize % 64, 0);
            assert!((0..aligned.size()).all(|i| *zeroed.add(i) == 0));
            assert!((0..aligned.size()).all(|i| *before_aligned.add(i) == 0));

            let grown = Layout::from_size_align(4096, 8).unwrap();
            allocator.dealloc(before, grown);
            allocator.dealloc(after, grown);
            allocator.dealloc(before_aligned, aligned);
            allocator.dealloc(zeroed, aligned);
        }
    }
}
