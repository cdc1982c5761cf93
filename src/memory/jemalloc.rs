//! What the allocator knows: jemalloc's own statistics, and the knobs that
//! make it give memory back.
//!
//! `stats.allocated` is what the program holds; `stats.resident` is what
//! the allocator has in physical pages (allocated + fragmentation + its
//! metadata + dirty pages not yet returned). Dirty pages are free memory
//! jemalloc keeps for reuse; it returns them to the kernel after
//! `dirty_decay_ms`, from background threads so no request pays for it.
//!
//! The global allocator must be jemalloc for any of this to mean anything;
//! the binary sets it (`#[global_allocator]` in `main.rs`).

use tikv_jemalloc_ctl::{Access, AsName, background_thread, epoch, stats};

/// How long freed pages stay dirty before jemalloc purges them. Short, so a
/// cache that shrinks to make room for buffers gives pages back quickly.
const DIRTY_DECAY_MS: isize = 1000;

/// "All arenas" in jemalloc's mallctl namespace.
const ALL_ARENAS: &str = "4096";

/// One reading of the allocator.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes allocated by the program.
    pub allocated: u64,
    /// Bytes in pages the allocator has touched and not returned.
    pub resident: u64,
    /// Bytes in dirty pages: free, reusable, not yet returned.
    pub dirty: u64,
    /// Allocator metadata bytes.
    pub metadata: u64,
}

/// Turns on background purging and short decay. Call once at start-up;
/// failures are reported, not fatal (the cache still works, it just gives
/// memory back more slowly).
pub fn configure() -> Result<(), tikv_jemalloc_ctl::Error> {
    background_thread::write(true)?;
    "arenas.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS)?;
    "arenas.muzzy_decay_ms\0".name().write(0isize)?;
    // Arenas that already exist keep their old settings: update them too.
    let arenas: u32 = "arenas.narenas\0".name().read()?;
    for i in 0..arenas {
        // Arenas that were never initialised refuse the write; skip them.
        let _ = format!("arena.{i}.dirty_decay_ms\0").as_str().name().write(DIRTY_DECAY_MS);
        let _ = format!("arena.{i}.muzzy_decay_ms\0").as_str().name().write(0isize);
    }
    Ok(())
}

/// Reads fresh statistics (advances jemalloc's stats epoch first).
pub fn read() -> Result<HeapStats, tikv_jemalloc_ctl::Error> {
    epoch::advance()?;
    let page: usize = "arenas.page\0".name().read()?;
    let dirty_pages: usize =
        format!("stats.arenas.{ALL_ARENAS}.pdirty\0").as_str().name().read()?;
    Ok(HeapStats {
        allocated: stats::allocated::read()? as u64,
        resident: stats::resident::read()? as u64,
        dirty: (dirty_pages * page) as u64,
        metadata: stats::metadata::read()? as u64,
    })
}

/// Returns every dirty page to the kernel now (used when the process is
/// over its budget and cannot wait for decay). Setting an arena's decay
/// time to 0 purges immediately; the normal setting is then restored.
pub fn purge() {
    let arenas: u32 = "arenas.narenas\0".name().read().unwrap_or(0);
    for i in 0..arenas {
        let key = format!("arena.{i}.dirty_decay_ms\0");
        if key.as_str().name().write(0isize).is_ok() {
            let _ = key.as_str().name().write(DIRTY_DECAY_MS);
        }
    }
}
