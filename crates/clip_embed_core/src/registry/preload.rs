//! What the postmaster prepares before it forks (`clip_embed.preload_models`
//! with `shared_preload_libraries`): each named model's description and its
//! parsed tokenizer. Every backend it forks starts with them, their pages
//! shared copy-on-write.
//!
//! The tokenizer is the part worth sharing: a CLIP `tokenizer.json` (vocab,
//! merges, the pre-tokenizer's regex) parses in 60-120 ms into 15-20 MB that
//! each backend otherwise holds privately (a second backend with a torch-exported
//! ViT-B/16's towers: 33.2 MB private, 16.0 MB with the tokenizer preloaded;
//! bench/preload.py). ONNX sessions are not preloaded: ONNX Runtime 1.32's
//! `CreateEnv`, which any session needs, starts a thread, and a child forked
//! from a process holding that environment hung in `exit()` (in ONNX Runtime's
//! destructors, `pthread_cond_destroy` on the condition variable the missing
//! thread waited on; docs/performance.md). Nothing here starts a thread: the
//! tokenizer is parsed on the caller's.
//!
//! A preloaded model is what its files held when the postmaster started: each
//! backend checks, once, that the stamps (size and mtime) of its files are
//! unchanged, and otherwise drops what was preloaded, so a replaced model is
//! read afresh as without preloading.

use std::path::PathBuf;

use super::catalog::{file_stamps, model_path};
use super::state::{Preloaded, Registry, Settings};
use super::towers::{release_freed_memory, DEFAULT_CONTEXT_LENGTH};
use crate::error::Result;
use crate::text::ClipTokenizer;

impl Registry {
    /// Describes the model `name` and parses its tokenizer, on this thread.
    /// On an error nothing of the model stays: a backend reads it at first
    /// use, as without preloading.
    pub fn preload(&mut self, settings: &Settings, name: &str) -> Result<()> {
        let found = model_path(settings, name)?;
        let loaded = (|| {
            let model = self.model(&settings.model_dir, &found)?;
            let layout = &model.layout;
            let stamps = file_stamps(&layout.files)?;
            let slots = layout.text.context_length.unwrap_or(DEFAULT_CONTEXT_LENGTH);
            let tokenizer = ClipTokenizer::from_file(&layout.tokenizer, slots, &layout.text.pad, layout.text.cleanup)?;
            model.preloaded = Some(Preloaded { stamps, tokenizer: Some(tokenizer) });
            Ok(())
        })();
        if loaded.is_err() {
            self.models.remove(&found.key);
        }
        release_freed_memory();
        loaded
    }

    /// Drops every preloaded model whose files changed (or went) since it was
    /// preloaded; returns their names. A backend calls this once, before its
    /// first use of the registry: a `stat` per file of each preloaded model.
    pub fn drop_changed_preloads(&mut self) -> Vec<String> {
        let changed: Vec<PathBuf> = self
            .models
            .iter()
            .filter_map(|(key, model)| {
                let stamps = &model.preloaded.as_ref()?.stamps;
                let files: Vec<PathBuf> = stamps.iter().map(|(file, ..)| file.clone()).collect();
                let same = file_stamps(&files).is_ok_and(|now| now == *stamps);
                (!same).then(|| key.clone())
            })
            .collect();
        changed.iter().filter_map(|key| self.models.remove(key)).map(|model| model.name).collect()
    }

    /// The models this registry holds from a preload, by name.
    pub fn preloaded_models(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.models.values().filter(|m| m.preloaded.is_some()).map(|m| m.name.clone()).collect();
        names.sort();
        names
    }
}

/// What [`plug_heap_holes`] did: the free heap bytes it took, in how many chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluggedHoles {
    pub bytes: usize,
    pub chunks: usize,
}

/// Takes every free chunk of this process's heap, for good, before it forks.
/// For the process's main thread (the postmaster's), whose arena is the heap.
///
/// Parsing a tokenizer frees its temporaries (the JSON, grown tables) between
/// the chunks it keeps. A forked child's `malloc` would fill those holes, and
/// each page it writes there is copied out of the pages it shares with the
/// postmaster: measured on a torch-exported ViT-B/16, a backend's first use of
/// ONNX Runtime turned 8.1 of the 14.3 MB of heap it shared into private memory. With
/// the holes taken, a child's allocations come from the top of the heap, in
/// pages of its own. The chunks taken are never written past their headers
/// (pages that `malloc_trim` released stay unmapped) and stay the
/// postmaster's: its children share them. glibc only; elsewhere a no-op.
pub fn plug_heap_holes() -> PluggedHoles {
    #[cfg(target_env = "gnu")]
    {
        plug_glibc_heap_holes()
    }
    #[cfg(not(target_env = "gnu"))]
    {
        PluggedHoles::default()
    }
}

#[cfg(target_env = "gnu")]
fn plug_glibc_heap_holes() -> PluggedHoles {
    let mut plugged = PluggedHoles::default();
    // SAFETY: merges fastbins into the bins and releases wholly free pages;
    // then mallinfo2 reads the counters (once: it walks every free chunk) and
    // sbrk(0) the heap's end, changing nothing.
    let top = unsafe {
        libc::malloc_trim(0);
        let info = libc::mallinfo2();
        (libc::sbrk(0) as usize).saturating_sub(info.keepcost)
    };
    // Every hole lies below the top chunk, so a block at or above where it
    // began (or mapped elsewhere) came from fresh memory: that size is done.
    // Largest requests first; blocks from fresh memory are kept too (freed, a
    // small one would sit in the thread's cache and serve the next request of
    // its size): at most 17 such, untouched past their headers.
    let mut size = 1usize << 20;
    let mut budget = 10_000_000; // bounds the loop whatever the allocator does
    while size >= 24 && budget > 0 {
        while budget > 0 {
            budget -= 1;
            // SAFETY: a plain allocation, never freed (see above). black_box:
            // the compiler may otherwise drop an allocation nothing reads.
            let block = std::hint::black_box(unsafe { libc::malloc(size) });
            if block.is_null() {
                return plugged;
            }
            if block as usize >= top {
                break;
            }
            // SAFETY: `block` came from malloc above.
            plugged.bytes += unsafe { libc::malloc_usable_size(block) };
            plugged.chunks += 1;
        }
        size = if size > 32 { size / 2 } else { size - 8 };
    }
    plugged
}
