//! clip_embed's pure-Rust core: everything that computes a CLIP embedding,
//! with no Postgres in it, so `cargo test -p clip_embed_core` exercises it alone.
//!
//! * [`cancel`]: how a Postgres cancel reaches every long phase
//! * [`worker`]: worker threads a cancel may abandon, kept bounded
//! * [`tokenize`]: OpenAI's CLIP tokenization over a `tokenizer.json`
//! * [`decode`]: image bytes to upright 8-bit RGB, as the seed's OpenCV decodes them
//! * [`preprocess`]: OpenAI's image transform on that RGB image
//! * [`pil_resample`]: Pillow's bicubic resampler, ported for exact parity
//! * [`session`]: ONNX Runtime loading, tower sessions, cancellable runs
//! * [`prepared`]: prepared copies of towers, memory-mapped and shared by every backend
//! * [`model`]: model folders and the per-backend registry of loaded towers
//! * [`text_cache`]: the per-backend LRU cache of text embeddings
//! * [`text_length`]: rewriting text graphs with a fixed length to follow their input
//! * [`math`]: cosine similarity and normalisation with pgvector's edge cases
//! * [`layout`]: what a model family is (files, configuration, I/O binding,
//!   padding, image recipe), one file per family
//! * [`names`], [`error`]: model names, and the error type

// The core calls C (libjpeg-turbo, libtiff, ONNX Runtime) but never through an
// unwinding ABI: a panic must not cross into C frames.
#![deny(ffi_unwind_calls)]

pub mod cancel;
pub mod decode;
pub mod error;
pub mod layout;
pub mod math;
pub mod model;
pub mod names;
pub mod onnx_files;
pub mod pil_resample;
pub mod prepared;
pub mod preprocess;
pub mod session;
pub mod text_cache;
pub mod text_length;
pub mod tokenize;
pub mod worker;

pub use decode::ImageLimits;
pub use error::{Error, ErrorKind, Result};
pub use model::{ModelInfo, PreparedRow, Registry, Settings};
