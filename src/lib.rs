//! clip_embed: CLIP text and image embeddings computed inside PostgreSQL.
//!
//! The layout shows the architecture:
//! * [`api`]: the SQL surface, `#[pg_extern]` functions that only convert
//!   arguments, call the core and map errors;
//! * [`bulk`]: `clip_embed_backfill`, a procedure that embeds a table in committed batches;
//! * [`column_models`]: `clip_column_models`, which model made a column's vectors;
//! * [`gucs`]: every `clip_embed.*` setting;
//! * [`errors`]: core errors to SQLSTATEs;
//! * [`rows`]: the row shapes of the set-returning functions;
//! * [`backend`]: the per-backend registry of loaded models;
//! * `clip_embed_core` (crates/): tokenizer, preprocessing, ONNX sessions and
//!   math, with no Postgres in it.

// A Rust panic crossing into Postgres's C frames is undefined behaviour; every
// call that may unwind goes through pgrx's guards, and this lint keeps it so.
#![deny(ffi_unwind_calls)]

use pgrx::prelude::*;

// pgrx turns a panic into an ERROR by unwinding to its guard; with
// panic = "abort" every panic (a bug, a decoder's) would take the whole server
// through crash recovery.
#[cfg(not(panic = "unwind"))]
compile_error!("clip_embed must be built with panic = \"unwind\" (see Cargo.toml's profiles)");

mod api;
mod backend;
mod bulk;
mod column_models;
mod errors;
mod gucs;
mod rows;

::pgrx::pg_module_magic!(name, version);

/// Registers the settings. Loads nothing else unless `clip_embed.preload_models`
/// names models and the library is in `shared_preload_libraries`: then the
/// postmaster parses their tokenizers and maps ONNX Runtime's library here,
/// starting no thread, so that it still has one when it forks (see
/// [`backend::preload`]). ONNX sessions always load lazily in each backend.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    // SAFETY: plain reads of two flags the server sets before loading libraries.
    let in_postmaster = unsafe { pg_sys::process_shared_preload_libraries_in_progress && !pg_sys::IsUnderPostmaster };
    if in_postmaster {
        backend::preload();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    /// One-off set-up when the test framework starts.
    pub fn setup(_options: Vec<&str>) {}

    /// The test cluster reads its models from the test model directory that
    /// `scripts/test.sh` fills (the installed tiny model plus deliberately odd ones).
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        let home = std::env::var("CLIP_EMBED_HOME").unwrap_or_else(|_| "/var/tmp/clip_embed".into());
        let line = format!("clip_embed.model_dir = '{home}/test-models'");
        vec![Box::leak(line.into_boxed_str())]
    }
}
