//! The registry's state: the settings a call brings, and the models and
//! towers a backend has loaded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::cancel::CancelCheck;
use crate::image::ImageLimits;
use crate::layout::Layout;
use crate::onnx::Tower;
use crate::prepared::Origin;
use crate::text::cache::{TextCache, TowerIdentity};
use crate::text::ClipTokenizer;

/// What a call needs from the settings; the SQL layer fills it from its GUCs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder holding one sub-folder per model.
    pub model_dir: PathBuf,
    /// Absolute path of `libonnxruntime.so`.
    pub onnxruntime_path: PathBuf,
    /// ORT intra-op threads per session.
    pub intra_op_threads: usize,
    /// Whether sessions keep ONNX Runtime's CPU arena (off by default:
    /// [`crate::onnx::create_session`] says why); a change reloads the towers.
    pub onnx_cpu_arena: bool,
    /// Image size limits.
    pub limits: ImageLimits,
    /// Polled during model runs; true cancels.
    pub cancel: Option<CancelCheck>,
    /// Entries of the per-backend text-embedding cache; 0 turns it off.
    pub text_cache_entries: usize,
    /// Folder of prepared copies ([`crate::prepared`]); None loads original graphs.
    pub prepared_dir: Option<PathBuf>,
    /// Receives warnings (a prepared copy that could not be written or was
    /// damaged): the query goes on.
    pub warn: Option<fn(&str)>,
    /// Receives what only the server log needs (a text tower that keeps its
    /// fixed length because the rewrite was refused).
    pub log: Option<fn(&str)>,
}

impl Settings {
    /// Settings for a process outside Postgres (tools, tests): one thread,
    /// the default image limits, no text cache, original graphs, nothing to
    /// cancel and nowhere to warn.
    pub fn new(model_dir: PathBuf, onnxruntime_path: PathBuf) -> Settings {
        Settings {
            model_dir,
            onnxruntime_path,
            intra_op_threads: 1,
            onnx_cpu_arena: false,
            limits: ImageLimits::DEFAULT,
            cancel: None,
            text_cache_entries: 0,
            prepared_dir: None,
            warn: None,
            log: None,
        }
    }

    pub(super) fn warn(&self, message: String) {
        if let Some(warn) = self.warn {
            warn(&message);
        }
    }

    pub(super) fn log(&self, message: String) {
        if let Some(log) = self.log {
            log(&message);
        }
    }
}

pub(super) struct TextTower {
    pub(super) tower: Tower,
    pub(super) tokenizer: ClipTokenizer,
    /// This load's key in the text cache: a reload never sees older entries.
    pub(super) identity: TowerIdentity,
}

pub(super) struct Model {
    /// The model's name (folder, and `:variant`), as prepared copies and messages name it.
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) layout: Layout,
    pub(super) visual: Option<Tower>,
    pub(super) textual: Option<TextTower>,
    /// Where the loaded towers came from.
    pub(super) visual_origin: Origin,
    pub(super) textual_origin: Origin,
    pub(super) fingerprint: Option<(Vec<FileStamp>, String)>,
    /// For a model preloaded before the process forked ([`Registry::preload`]):
    /// its files' stamps then, and its tokenizer until the text tower takes it.
    pub(super) preloaded: Option<Preloaded>,
}

/// What a model holds from a preload until its backend uses it.
pub(super) struct Preloaded {
    /// Its files' stamps when it was preloaded.
    pub(super) stamps: Vec<FileStamp>,
    /// The parsed tokenizer, until the text tower takes it.
    pub(super) tokenizer: Option<ClipTokenizer>,
}

/// The loaded runtime and models of one process (a Postgres backend).
#[derive(Default)]
pub struct Registry {
    /// By [`ModelRef::key`]: the model directory and the model's name.
    pub(super) models: HashMap<PathBuf, Model>,
    pub(super) text_cache: TextCache,
    pub(super) tower_loads: TowerIdentity,
    /// A tower loaded or ran, or an image was decoded, since the heap was last
    /// trimmed: a run's activations (15-17 MB for a ViT-B/16 image, without
    /// ONNX Runtime's CPU arena), decoded images and a failed load's
    /// temporaries are free chunks that malloc keeps, handed back by
    /// [`Registry::release_memory_freed_by_embedding`]. A text-cache hit frees nothing.
    pub(super) embedding_freed_memory: bool,
}

impl Registry {
    /// An empty registry; nothing loads until first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// (path, length, mtime) of a file the fingerprint covered; a change recomputes it.
pub(super) type FileStamp = (PathBuf, u64, Option<SystemTime>);
