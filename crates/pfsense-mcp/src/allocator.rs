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
//!
//! mimalloc is called through its C API, the plain calls (`mi_malloc`, `mi_free`) for every
//! layout they align, rather than through the `mimalloc` crate's `GlobalAlloc`, which takes the
//! aligned calls for every block: their general path cost 12k of a read's 451k instructions
//! over HTTP (callgrind, 1,000 reads; BENCHMARKS.md, "Ninth session").

use libmimalloc_sys as mi;
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

    /// Whether new blocks come from mimalloc.
    fn mimalloc_hands_out(&self) -> bool {
        self.thread_caching.load(Ordering::Acquire)
    }

    /// A new block for `layout` from the allocator now handing them out.
    ///
    /// # Safety
    /// `layout` has a non-zero size (`GlobalAlloc::alloc`'s contract).
    unsafe fn new_block(&self, layout: Layout, fill: Fill) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: a valid non-zero layout, passed on; the plain calls only where they align.
        unsafe {
            match (self.mimalloc_hands_out(), fill) {
                (false, Fill::Any) => System.alloc(layout),
                (false, Fill::Zeroes) => System.alloc_zeroed(layout),
                (true, fill) => match (plain_alignment_suffices(size, align), fill) {
                    (true, Fill::Any) => mi::mi_malloc(size).cast(),
                    (true, Fill::Zeroes) => mi::mi_zalloc(size).cast(),
                    (false, Fill::Any) => mi::mi_malloc_aligned(size, align).cast(),
                    (false, Fill::Zeroes) => mi::mi_zalloc_aligned(size, align).cast(),
                },
            }
        }
    }

    /// Whether mimalloc owns `ptr`. Before the switch it owns nothing, and a server over stdio
    /// never pays for the lookup.
    fn mimalloc_owns(&self, ptr: *mut u8) -> bool {
        self.mimalloc_hands_out()
            // SAFETY: a lookup of an address in mimalloc's page map; any address may be
            // asked (one outside the map, or before mimalloc set the map up, is not its own).
            && unsafe { mi::mi_is_in_heap_region(ptr.cast()) }
    }
}

/// What a new block holds: anything, or zeroes (`alloc_zeroed`).
#[derive(Clone, Copy)]
enum Fill {
    Any,
    Zeroes,
}

/// Whether a plain `mi_malloc` of `size` bytes is aligned to `align`. mimalloc's size classes
/// above 8 bytes are multiples of 16 on pages that start 16-byte aligned (`mi_bin`,
/// `page-queue.c`), so a block is 16-byte aligned, or 8-byte in the 8-byte class: the rule
/// `std`'s `System` applies to `malloc`. Nearly every block takes this path; larger
/// alignments take the `_aligned` calls (tested below for every size up to 600).
fn plain_alignment_suffices(size: usize, align: usize) -> bool {
    align <= MI_MAX_ALIGN_SIZE && align <= size
}

/// mimalloc's `MI_MAX_ALIGN_SIZE` (`sizeof(max_align_t)` on x86-64 and aarch64 Linux).
const MI_MAX_ALIGN_SIZE: usize = 16;

impl Default for ByTransport {
    fn default() -> ByTransport {
        ByTransport::new()
    }
}

// SAFETY: every block is freed and reallocated by the allocator that handed it out
// (`mimalloc_owns`), and each of the two is used as its documentation requires: glibc's through
// `System`, mimalloc's through its C API with the layout's alignment honoured
// (`plain_alignment_suffices`).
unsafe impl GlobalAlloc for ByTransport {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { self.new_block(layout, Fill::Any) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { self.new_block(layout, Fill::Zeroes) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.mimalloc_owns(ptr) {
            // SAFETY: a live block mimalloc handed out.
            unsafe { mi::mi_free(ptr.cast()) }
        } else {
            // SAFETY: a live block glibc's allocator handed out, with its layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.mimalloc_owns(ptr) {
            // SAFETY: a live block glibc's allocator handed out, with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a live block mimalloc handed out, resized keeping the layout's alignment.
        unsafe {
            if plain_alignment_suffices(new_size, layout.align()) {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
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

    /// Every block mimalloc hands out through the plain calls (`mi_malloc`, `mi_zalloc`,
    /// `mi_realloc`) is as aligned as its layout asks, for every size and alignment the plain
    /// path takes; larger alignments take the aligned calls.
    #[test]
    fn blocks_are_aligned_as_their_layouts_ask() {
        let allocator = ByTransport::new();
        allocator.cache_per_thread();
        let mut blocks = Vec::new();
        for size in 1..=600 {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: non-zero sizes; each block is resized and freed with its layout.
                unsafe {
                    let block = allocator.alloc(layout);
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert!(!block.is_null() && !zeroed.is_null());
                    assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                    assert_eq!(
                        zeroed as usize % align,
                        0,
                        "zeroed: size {size}, align {align}"
                    );
                    let grown = allocator.realloc(block, layout, size * 3 + 5);
                    assert_eq!(
                        grown as usize % align,
                        0,
                        "grown: size {size}, align {align}"
                    );
                    blocks.push((grown, Layout::from_size_align(size * 3 + 5, align).unwrap()));
                    blocks.push((zeroed, layout));
                }
            }
        }
        for (block, layout) in blocks {
            // SAFETY: live blocks of this allocator with their layouts.
            unsafe { allocator.dealloc(block, layout) };
        }
    }
}
