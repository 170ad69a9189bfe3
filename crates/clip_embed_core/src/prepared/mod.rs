//! Prepared copies of towers, shared by every backend through the page cache.
//!
//! Loading a tower from the model's own `.onnx` makes each backend optimise the
//! graph and copy its weights into private memory: 621 MB and 0.82 s of
//! first-call overhead per backend for a ViT-B/16, against 48 MB and 0.24 s
//! from prepared copies (docs/performance.md: bench/prepared.py). The first backend that needs a tower
//! therefore writes a *prepared copy*: ONNX Runtime's optimised graph, with
//! every initializer of 1 KiB or more, prepacked ones included, in a `.data`
//! file beside it ([`crate::onnx::create_session`]). Later sessions on that
//! graph map the weights from the file, so every backend shares one copy in the
//! page cache, and creating a session skips the optimisers.
//!
//! A copy lives in its own folder under the store (by default
//! `pgsql_tmp_clip_embed` in the data directory, which `pg_basebackup` skips as
//! it skips every `pgsql_tmp*` name: the copies are derived, CPU-specific data).
//! The folder's name is the model's name, the tower and a key over everything
//! that changes the copy's bytes: the source graph's content hash, ONNX
//! Runtime's build, the CPU's vector extensions (prepacked layouts depend on
//! them) and this module's settings ([`PREPARE_RECIPE`]). A change in any of
//! them makes a new copy, never a stale load.
//!
//! The content hash is not recomputed per backend (hashing 600 MB takes
//! seconds): `stamps/` maps a cheap stamp of the source file (path, device,
//! inode, size, mtime and ctime in ns) to its SHA-256, recorded once.
//!
//! A copy is written in a temporary folder named after the writing process and
//! renamed into place with its manifest, so no backend ever loads a half-written
//! copy and two backends preparing at once do not collide (the second rename
//! fails; the loser uses the winner's copy). Before a copy loads, its files are
//! checked against the manifest: sizes, the graph's SHA-256, and a sampled
//! SHA-256 of the weights file (64 KiB every 8 MiB: 5.2 MB of the 686 MB a
//! ViT-B/16 visual copy holds; a full hash of that file, page cache warm, took
//! 0.38 s with Python's SHA-NI hashlib and 1.3 s with sha256sum). A copy that
//! fails the check, or that ONNX Runtime refuses, is removed and rebuilt.
//! Anything that stops preparing except a cancel (read-only or full disk, a
//! failed write) falls back to loading the original graph, with a warning.

mod files;
mod key;
mod load;
mod manifest;
mod store;
#[cfg(test)]
mod tests;
pub mod text_length;
mod write;

pub use files::{cpu_features, hash_into, PREPARE_RECIPE};
pub use key::{current_copy_name, tower_name, TowerSource};
pub use load::{load_through_store, Graph, Origin};
pub use manifest::{FileCheck, Manifest};
pub use store::{list, remove, writer_is_running, CopyInfo};
