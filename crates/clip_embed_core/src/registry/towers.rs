//! Loading towers: the one place a tower is loaded ([`load_tower`]), through
//! the prepared store where there is one, and the checks a loaded tower must
//! pass against its model's configuration.

use std::path::Path;

use super::catalog::ModelRef;
use super::state::{Model, Registry, Settings, TextTower};
use crate::error::{Error, Result};
use crate::onnx::{Runtime, Tower, TowerKind};
use crate::prepared::{self, Graph, Origin, TowerSource};
use crate::text::ClipTokenizer;

impl Registry {
    pub(super) fn ensure_visual_tower(&mut self, settings: &Settings, found: &ModelRef) -> Result<()> {
        if self.models.get(&found.key).and_then(|m| m.visual.as_ref()).is_some_and(|t| made_as_set(t, settings)) {
            return Ok(());
        }
        self.embedding_freed_memory = true; // a load that fails leaves its temporaries
        let runtime = Runtime::get_or_load(&settings.onnxruntime_path)?;
        let model = self.model(&settings.model_dir, found)?;
        model.visual = None;
        let layout = &model.layout;
        let source = TowerSource::of(&model.name, layout, TowerKind::Visual);
        let (tower, origin) = load_tower(settings, runtime, &source)?;
        if let (Some(configured), Some(graph)) = (layout.image.size, tower.image_size()) {
            if configured != graph {
                return Err(Error::InvalidModel(format!(
                    "{} says image_size {configured}, but {} takes {graph}",
                    file_name(&layout.config_file),
                    file_name(&layout.visual)
                )));
            }
        }
        model.check_dim(tower.output_dim)?;
        model.visual = Some(tower);
        model.visual_origin = origin;
        release_freed_memory();
        Ok(())
    }

    pub(super) fn ensure_text_tower(&mut self, settings: &Settings, found: &ModelRef) -> Result<()> {
        if self.models.get(&found.key).and_then(|m| m.textual.as_ref()).is_some_and(|t| made_as_set(&t.tower, settings))
        {
            return Ok(());
        }
        self.embedding_freed_memory = true; // a load that fails leaves its temporaries
        let runtime = Runtime::get_or_load(&settings.onnxruntime_path)?;
        let model = self.model(&settings.model_dir, found)?;
        model.textual = None;
        let layout = &model.layout;
        let source = TowerSource::of(&model.name, layout, TowerKind::Textual);
        // A tokenizer the postmaster parsed is taken as it is (its pages stay
        // shared with the other backends until written).
        let preloaded = model.preloaded.as_mut().and_then(|p| p.tokenizer.take());
        let from_preload = preloaded.is_some();
        // Otherwise the tokenizer parses its 1.9 MB JSON (~60 ms) while ONNX
        // Runtime creates the session (~55 ms for a prepared ViT-B/16 text tower).
        let (tower, tokenizer) = std::thread::scope(|scope| {
            if let Some(tokenizer) = preloaded {
                return (load_tower(settings, runtime, &source), Ok(tokenizer));
            }
            let tokenizer = crate::worker::with_signals_blocked(|| {
                scope.spawn(|| {
                    let slots = layout.text.context_length.unwrap_or(DEFAULT_CONTEXT_LENGTH);
                    ClipTokenizer::from_file(&layout.tokenizer, slots, &layout.text.pad, layout.text.cleanup)
                })
            });
            let tower = load_tower(settings, runtime, &source);
            (tower, tokenizer.join().unwrap_or_else(|_| Err(Error::Inference("the tokenizer loader panicked".into()))))
        });
        let (mut tower, origin) = match tower {
            Ok(loaded) => loaded,
            Err(error) => {
                // A load a cancel stopped hands the preloaded tokenizer back
                // for the next try, which would otherwise parse its own.
                if let (true, Ok(tokenizer), Some(preloaded)) = (from_preload, tokenizer, model.preloaded.as_mut()) {
                    preloaded.tokenizer = Some(tokenizer);
                }
                return Err(error);
            }
        };
        let context_length = layout.text.context_length.or(tower.context_length()).unwrap_or(DEFAULT_CONTEXT_LENGTH);
        if context_length > MAX_CONTEXT_LENGTH {
            // The tokenizer allocates ids for every slot: a graph saying 10^9 would ask for 8 GB.
            return Err(Error::InvalidModel(format!(
                "{} takes {context_length} tokens, over the {MAX_CONTEXT_LENGTH} clip_embed supports",
                file_name(&layout.textual)
            )));
        }
        if let Some(graph) = tower.context_length() {
            if graph != context_length {
                return Err(Error::InvalidModel(format!(
                    "{} says context_length {context_length}, but {} takes {graph}",
                    file_name(&layout.config_file),
                    file_name(&layout.textual)
                )));
            }
        }
        let tokenizer = tokenizer?.with_context_length(context_length)?;
        if layout.text.causal && tower.trimmed_context.is_none() && tower.has_dynamic_length() {
            // A graph that takes any length already (Hugging Face exports).
            tower.trimmed_context = Some(context_length);
        }
        model.check_dim(tower.output_dim)?;
        self.tower_loads += 1;
        let identity = self.tower_loads;
        let model = self.models.get_mut(&found.key).expect("loaded above");
        model.textual = Some(TextTower { tower, tokenizer, identity });
        model.textual_origin = origin;
        release_freed_memory();
        Ok(())
    }
}

/// Whether a loaded tower was made with the settings' threads and arena: a
/// change of either reloads it.
fn made_as_set(tower: &Tower, settings: &Settings) -> bool {
    tower.threads == settings.intra_op_threads && tower.cpu_arena == settings.onnx_cpu_arena
}

/// OpenAI CLIP's sizes, used where neither the config nor the graph says.
pub(super) const DEFAULT_IMAGE_SIZE: u32 = 224;

pub(super) const DEFAULT_CONTEXT_LENGTH: usize = 77;

/// The longest text input a tower may declare (configs are held to the same).
pub(super) const MAX_CONTEXT_LENGTH: usize = 4096;

/// Loads a tower: the one place a tower is loaded. Through the prepared store
/// when one is configured (it picks the graph: a sound copy, a fresh one, or
/// the original with a warning), else from the model's own graph.
fn load_tower(settings: &Settings, runtime: &Runtime, source: &TowerSource) -> Result<(Tower, Origin)> {
    let threads = settings.intra_op_threads;
    let load = |graph: &Graph| {
        let arena = settings.onnx_cpu_arena;
        let mut tower = Tower::load(runtime, graph.path, source.kind, source.bind, threads, arena, settings.cancel)?;
        tower.trimmed_context = graph.text_length;
        Ok(tower)
    };
    match &settings.prepared_dir {
        Some(store) => prepared::load_through_store(
            runtime,
            store,
            source,
            settings.cancel,
            &mut |m| settings.warn(m),
            &mut |m| settings.log(m),
            &load,
        ),
        None => Ok((load(&Graph { path: source.path, text_length: None })?, Origin::Original)),
    }
}

/// Hands the heap pages that loading freed back to the system. Loading parses
/// the tokenizer's 1.9 MB JSON and ONNX Runtime's graph into temporaries; glibc
/// keeps freed pages below the heap's top, so without this each backend would
/// keep them as private memory for its whole life. Also after runs, once per
/// transaction ([`Registry::release_memory_freed_by_embedding`]): sessions have no
/// arena by default ([`crate::onnx::create_session`]), so a run's activations
/// are freed to malloc, which would otherwise keep the largest run's blocks
/// (15-17 MB for a ViT-B/16 image).
pub(super) fn release_freed_memory() {
    // SAFETY: malloc_trim only returns free pages of this process's heaps to the kernel.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes every thread of this process allocate from malloc's main arena, so
/// that [`release_freed_memory`] reaches what worker threads freed too: glibc
/// gives threads arenas of their own, whose top chunk `malloc_trim` leaves
/// alone. Measured on the regress cluster (clip-shapes, one connection,
/// autocommit calls): an idle backend held 32.4 MB anonymous after a
/// 2,500 x 2,500 JPEG and 40.3 MB after a 3,000 x 3,000 one, against 14.7 MB
/// throughout with one arena. A backend is one thread plus a few short-lived
/// workers, so they rarely wait for the arena's lock. Called once per process,
/// before the first worker starts; arenas made before stay.
pub fn use_one_malloc_arena() {
    // SAFETY: mallopt only changes this process's allocator settings.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A path's file name, for messages.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

impl Model {
    /// Both towers, and the config if it says, must agree on the embedding width.
    pub(super) fn check_dim(&self, dim: Option<usize>) -> Result<()> {
        let others = [
            self.layout.embed_dim,
            self.visual.as_ref().and_then(|t| t.output_dim),
            self.textual.as_ref().and_then(|t| t.tower.output_dim),
        ];
        if let (Some(dim), Some(other)) = (dim, others.into_iter().flatten().next()) {
            if dim != other {
                return Err(Error::InvalidModel(format!(
                    "model \"{}\" mixes embedding widths {dim} and {other}",
                    self.dir.display()
                )));
            }
        }
        Ok(())
    }
}
