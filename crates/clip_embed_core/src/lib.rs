//! clip_embed's pure-Rust core: everything that computes a CLIP embedding,
//! with no Postgres in it, so `cargo test -p clip_embed_core` exercises it alone.
//!
//! Modules, lowest first; each imports only modules above it in this list:
//! * [`error`]: the error type (the SQL layer maps its kinds to SQLSTATEs)
//! * [`cancel`]: how a Postgres cancel reaches every long phase
//! * [`worker`]: worker threads a cancel may abandon, kept bounded
//! * [`math`]: cosine similarity, normalisation and zero-shot scores
//! * [`recipe`]: what a family says about images, texts and scores, as values
//! * [`layout`]: model families: which files, configuration and graph binding,
//!   one file per family
//! * [`image`]: bytes to upright 8-bit RGB as the seed's OpenCV decodes them,
//!   then the family's resize and normalisation
//! * [`text`]: the tokenizer (OpenAI's chunked path, the generic path, ftfy),
//!   and the per-backend cache of text embeddings
//! * [`onnx`]: ONNX Runtime, tower sessions, cancellable loads and runs
//! * [`prepared`]: prepared copies of towers, memory-mapped and shared by every backend
//! * [`registry`]: the per-backend registry: the model catalogue, the one
//!   place towers load, embedding and zero-shot classification

// The core calls C (libjpeg-turbo, libtiff, ONNX Runtime) but never through an
// unwinding ABI: a panic must not cross into C frames.
#![deny(ffi_unwind_calls)]

pub mod cancel;
pub mod error;
pub mod image;
pub mod layout;
pub mod math;
pub mod onnx;
pub mod prepared;
pub mod recipe;
pub mod registry;
pub mod text;
pub mod worker;

pub use error::{Error, ErrorKind, Result};
pub use image::ImageLimits;
pub use registry::{ModelInfo, PreparedCopy, Registry, Settings};
