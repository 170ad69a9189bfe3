//! Model folders and the per-process registry of loaded towers.
//!
//! A model is a folder under the model directory, of one of the families in
//! [`crate::layout`]; its [`Layout`] says which files hold what and how inputs
//! are prepared.
//!
//! Each tower loads on first use and stays loaded for the life of the
//! [`Registry`] (one per backend): a backend that only embeds text never
//! loads the vision tower.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::cancel::CancelCheck;
use crate::decode::check_encoded;
use crate::decode::ImageLimits;
use crate::error::bounded;
use crate::error::{io_error, Error, Result};
use crate::layout::{self, Layout, Scoring};
use crate::math::l2_normalize;
use crate::math::{zero_shot, zero_shot_sigmoid};
use crate::names::{validate_full_name, validate_model_name};
use crate::prepared::{self, Origin, TowerSource};
use crate::preprocess::{preprocess_cancellable, PixelSpec};
use crate::session::{Runtime, Tower, TowerKind};
use crate::text_cache::{TextCache, TowerIdentity};
use crate::tokenize::{is_blank, ClipTokenizer};

/// OpenAI CLIP's sizes, used where neither the config nor the graph says.
const DEFAULT_IMAGE_SIZE: u32 = 224;
const DEFAULT_CONTEXT_LENGTH: usize = 77;
/// The longest text input a tower may declare (configs are held to the same).
const MAX_CONTEXT_LENGTH: usize = 4096;

/// What a call needs from the settings; the SQL layer fills it from its GUCs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder holding one sub-folder per model.
    pub model_dir: PathBuf,
    /// Absolute path of `libonnxruntime.so`.
    pub onnxruntime_path: PathBuf,
    /// ORT intra-op threads per session.
    pub intra_op_threads: usize,
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
            limits: ImageLimits::DEFAULT,
            cancel: None,
            text_cache_entries: 0,
            prepared_dir: None,
            warn: None,
            log: None,
        }
    }

    fn warn(&self, message: String) {
        if let Some(warn) = self.warn {
            warn(&message);
        }
    }

    fn log(&self, message: String) {
        if let Some(log) = self.log {
            log(&message);
        }
    }
}

/// One row of `clip_models()`.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The model's name: the folder's, and `:variant` for a variant other than the plain one.
    pub name: String,
    /// The variant ("" for the plain one).
    pub variant: String,
    /// The model's layout, where its folder could be read.
    pub details: Option<Layout>,
    /// Why the model cannot be used, where it cannot.
    pub problem: Option<String>,
    pub path: PathBuf,
    /// The family the folder was recognised as (see [`crate::layout`]).
    pub layout: &'static str,
    pub embed_dim: Option<usize>,
    pub image_size: Option<u32>,
    pub context_length: Option<usize>,
    /// `sha256:` and the first 16 hex digits of a hash over the model's files.
    pub fingerprint: String,
    pub description: Option<String>,
    /// Milliseconds the text tower took to load, if this registry has it loaded.
    pub text_load_ms: Option<f64>,
    /// Milliseconds the vision tower took to load, if this registry has it loaded.
    pub image_load_ms: Option<f64>,
}

impl ModelInfo {
    fn unusable(name: String, family: &'static str, variant: &str, path: PathBuf, problem: Error) -> ModelInfo {
        ModelInfo {
            name,
            variant: variant.to_string(),
            details: None,
            problem: Some(problem.to_string()),
            layout: family,
            path,
            embed_dim: None,
            image_size: None,
            context_length: None,
            fingerprint: String::new(),
            description: Some(format!("unusable: {problem}")),
            text_load_ms: None,
            image_load_ms: None,
        }
    }
}

mod prepared_rows;
pub use prepared_rows::PreparedRow;

struct TextTower {
    tower: Tower,
    tokenizer: ClipTokenizer,
    /// This load's key in the text cache: a reload never sees older entries.
    identity: TowerIdentity,
}

struct Model {
    /// The model's name (folder, and `:variant`), as prepared copies and messages name it.
    name: String,
    dir: PathBuf,
    layout: Layout,
    visual: Option<Tower>,
    textual: Option<TextTower>,
    /// Where the loaded towers came from.
    visual_origin: Origin,
    textual_origin: Origin,
    fingerprint: Option<(Vec<FileStamp>, String)>,
}

/// (path, length, mtime) of a file the fingerprint covered; a change recomputes it.
type FileStamp = (PathBuf, u64, Option<SystemTime>);

fn file_stamps(files: &[PathBuf]) -> Result<Vec<FileStamp>> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).map_err(|e| io_error("model file", f, e))?;
            Ok((f.clone(), meta.len(), meta.modified().ok()))
        })
        .collect()
}

/// The loaded runtime and models of one process (a Postgres backend).
#[derive(Default)]
pub struct Registry {
    /// By [`ModelRef::key`]: the model directory and the model's name.
    models: HashMap<PathBuf, Model>,
    text_cache: TextCache,
    tower_loads: TowerIdentity,
}

impl Registry {
    /// An empty registry; nothing loads until first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Embeds one text with the named model's text tower.
    pub fn embed_text(&mut self, settings: &Settings, model: &str, text: &str, normalize: bool) -> Result<Vec<f32>> {
        let model = self.resolve(settings, model)?;
        // The cheap part of the tokenizer's own check, before a tower loads for nothing.
        if is_blank(text) {
            return Err(Error::InvalidArgument("text to embed must not be empty".into()));
        }
        self.ensure_text_tower(settings, &model)?;
        let text_tower = self.models.get_mut(&model.key).and_then(|m| m.textual.as_mut()).expect("loaded above");
        let mut embedding = match self.text_cache.get(text_tower.identity, text) {
            Some(raw) => raw,
            None => {
                let (ids, real) = text_tower.tokenizer.encode_counted(text, settings.cancel)?;
                let raw = text_tower.tower.embed_ids(&ids, real, settings.cancel)?;
                self.text_cache.put(text_tower.identity, text, &raw, settings.text_cache_entries);
                raw
            }
        };
        finish(&mut embedding, normalize)?;
        Ok(embedding)
    }

    /// Embeds one encoded image with the named model's vision tower.
    pub fn embed_image(&mut self, settings: &Settings, model: &str, bytes: &[u8], normalize: bool) -> Result<Vec<f32>> {
        let model = self.resolve(settings, model)?;
        check_encoded(bytes, &settings.limits)?;
        self.ensure_visual_tower(settings, &model)?;
        let model = self.models.get_mut(&model.key).expect("loaded above");
        let tower = model.visual.as_mut().expect("loaded above");
        let recipe = &model.layout.image;
        let spec = PixelSpec {
            image_size: recipe.size.or(tower.image_size()).unwrap_or(DEFAULT_IMAGE_SIZE),
            resize: recipe.resize,
            filter: recipe.filter,
            mean: recipe.mean,
            std: recipe.std,
        };
        let pixels = preprocess_cancellable(bytes, &spec, &settings.limits, settings.cancel)?;
        let mut embedding = tower.embed_pixels(pixels, spec.image_size, settings.cancel)?;
        finish(&mut embedding, normalize)?;
        Ok(embedding)
    }

    /// Zero-shot classification of an encoded image over `labels` (see [`Registry::classify_embedding`]).
    pub fn classify_image(
        &mut self,
        settings: &Settings,
        model: &str,
        bytes: &[u8],
        labels: &[String],
        template: &str,
    ) -> Result<Vec<(String, f64, f64)>> {
        check_labels(labels, template)?; // before the vision tower runs for nothing
        let image = self.embed_image(settings, model, bytes, true)?;
        self.score_labels(settings, model, &image, labels, template)
    }

    /// Zero-shot classification of an image embedding: each label, put into
    /// `template` at `{}`, embedded with the model's text tower (cached like any
    /// text); (label, probability, similarity) best first, the probability a
    /// softmax of the model's logit scale times the cosine (CLIP), or a sigmoid
    /// of that plus the logit bias, per label (SigLIP).
    pub fn classify_embedding(
        &mut self,
        settings: &Settings,
        model: &str,
        image: &[f32],
        labels: &[String],
        template: &str,
    ) -> Result<Vec<(String, f64, f64)>> {
        check_labels(labels, template)?;
        self.score_labels(settings, model, image, labels, template)
    }

    /// The zero-shot scores of checked labels.
    fn score_labels(
        &mut self,
        settings: &Settings,
        model: &str,
        image: &[f32],
        labels: &[String],
        template: &str,
    ) -> Result<Vec<(String, f64, f64)>> {
        let found = self.resolve(settings, model)?;
        let label_embeddings = labels
            .iter()
            .map(|label| self.embed_text(settings, model, &template.replace("{}", label), true))
            .collect::<Result<Vec<_>>>()?;
        let logits = self.model(&settings.model_dir, &found)?.layout.logits;
        let (scale, bias) = (f64::from(logits.scale), f64::from(logits.bias));
        let scores = match logits.scoring {
            Scoring::Softmax => zero_shot(image, &label_embeddings, scale)?,
            Scoring::Sigmoid => zero_shot_sigmoid(image, &label_embeddings, scale, bias)?,
        };
        Ok(scores.into_iter().map(|s| (labels[s.label].clone(), s.probability, s.similarity)).collect())
    }

    /// Every model under the model directory (each variant of a folder its
    /// own row), with what this registry has loaded.
    pub fn list_models(&mut self, settings: &Settings) -> Result<Vec<ModelInfo>> {
        let mut rows = Vec::new();
        for (folder, dir) in model_folders(&settings.model_dir)? {
            let family = match layout::family_of(&dir) {
                Ok(family) => family.expect("model_folders lists recognised folders"),
                Err(problem) => {
                    // One unusable folder must not hide the others.
                    rows.push(ModelInfo::unusable(folder, "", "", dir, problem));
                    continue;
                }
            };
            for variant in (family.variants)(&dir) {
                let name = layout::model_name(&folder, &variant);
                let key = settings.model_dir.join(&name);
                let found = ModelRef { name: name.clone(), dir: dir.clone(), variant: variant.clone(), key };
                let model = match self.model(&settings.model_dir, &found) {
                    Ok(model) => model,
                    Err(problem) => {
                        rows.push(ModelInfo::unusable(name, family.name, &variant, dir.clone(), problem));
                        continue;
                    }
                };
                let fingerprint = match model.fingerprint(settings.cancel) {
                    Ok(fingerprint) => fingerprint,
                    Err(Error::Cancelled) => return Err(Error::Cancelled),
                    Err(problem) => {
                        rows.push(ModelInfo::unusable(name, family.name, &variant, dir.clone(), problem));
                        continue;
                    }
                };
                let visual = model.visual.as_ref();
                let textual = model.textual.as_ref();
                rows.push(ModelInfo {
                    name,
                    variant,
                    details: Some(model.layout.clone()),
                    problem: None,
                    layout: model.layout.family,
                    embed_dim: model
                        .layout
                        .embed_dim
                        .or(visual.and_then(|t| t.output_dim))
                        .or(textual.and_then(|t| t.tower.output_dim)),
                    image_size: model.layout.image.size.or(visual.and_then(Tower::image_size)),
                    context_length: model.layout.text.context_length.or(textual.map(|t| t.tokenizer.context_length())),
                    fingerprint,
                    description: model.layout.description.clone(),
                    text_load_ms: textual.map(|t| t.tower.load_time.as_secs_f64() * 1e3),
                    image_load_ms: visual.map(|t| t.load_time.as_secs_f64() * 1e3),
                    path: dir.clone(),
                });
            }
        }
        Ok(rows)
    }

    /// The model named `name`. A model this registry has described already is
    /// found by a stat of its folder; recognising a folder reads its configs
    /// (Hugging Face's and Immich's `config.json`), which is not done per call.
    fn resolve(&self, settings: &Settings, name: &str) -> Result<ModelRef> {
        validate_full_name(name)?;
        let key = settings.model_dir.join(name);
        if let Some(model) = self.models.get(&key) {
            if model.dir.is_dir() {
                let variant = model.layout.variant.clone();
                return Ok(ModelRef { name: name.to_string(), dir: model.dir.clone(), variant, key });
            }
        }
        model_path(settings, name)
    }

    fn model(&mut self, model_dir: &Path, found: &ModelRef) -> Result<&mut Model> {
        if !self.models.contains_key(&found.key) {
            let family = layout::family_of(&found.dir)?
                .ok_or_else(|| Error::UnknownModel { name: found.name.clone(), dir: model_dir.to_path_buf() })?;
            let layout = (family.describe)(&found.dir, model_dir, &found.variant)?;
            let model = Model {
                name: found.name.clone(),
                dir: found.dir.clone(),
                layout,
                visual: None,
                textual: None,
                visual_origin: Origin::Original,
                textual_origin: Origin::Original,
                fingerprint: None,
            };
            self.models.insert(found.key.clone(), model);
        }
        Ok(self.models.get_mut(&found.key).expect("inserted above"))
    }

    fn ensure_visual_tower(&mut self, settings: &Settings, found: &ModelRef) -> Result<()> {
        let threads = settings.intra_op_threads;
        if self.models.get(&found.key).and_then(|m| m.visual.as_ref()).is_some_and(|t| t.threads == threads) {
            return Ok(());
        }
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

    fn ensure_text_tower(&mut self, settings: &Settings, found: &ModelRef) -> Result<()> {
        let threads = settings.intra_op_threads;
        if self.models.get(&found.key).and_then(|m| m.textual.as_ref()).is_some_and(|t| t.tower.threads == threads) {
            return Ok(());
        }
        let runtime = Runtime::get_or_load(&settings.onnxruntime_path)?;
        let model = self.model(&settings.model_dir, found)?;
        model.textual = None;
        let layout = &model.layout;
        let source = TowerSource::of(&model.name, layout, TowerKind::Textual);
        // The tokenizer parses its 1.9 MB JSON (~60 ms) while ONNX Runtime
        // creates the session (~55 ms for a prepared ViT-B/16 text tower).
        let (tower, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = crate::worker::with_signals_blocked(|| {
                scope.spawn(|| {
                    let slots = layout.text.context_length.unwrap_or(DEFAULT_CONTEXT_LENGTH);
                    ClipTokenizer::from_file(&layout.tokenizer, slots, &layout.text.pad, layout.text.cleanup)
                })
            });
            let tower = load_tower(settings, runtime, &source);
            (tower, tokenizer.join().unwrap_or_else(|_| Err(Error::Inference("the tokenizer loader panicked".into()))))
        });
        let (mut tower, origin) = tower?;
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

impl Model {
    /// Both towers, and the config if it says, must agree on the embedding width.
    fn check_dim(&self, dim: Option<usize>) -> Result<()> {
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

    /// A content hash over every file the model loads: its layout's files and
    /// the external-data files its graphs name. Recomputed only when one of
    /// them changes size or mtime; hashing polls `cancel` (a fresh backend's
    /// `clip_models()` hashes every model's files).
    fn fingerprint(&mut self, cancel: Option<CancelCheck>) -> Result<String> {
        if let Some((cached, value)) = &self.fingerprint {
            let files: Vec<PathBuf> = cached.iter().map(|(f, ..)| f.clone()).collect();
            if file_stamps(&files)? == *cached {
                return Ok(value.clone());
            }
        }
        let mut files = self.layout.files.clone();
        for graph in [&self.layout.visual, &self.layout.textual] {
            if graph.is_file() {
                for external in crate::onnx_files::external_data_files(graph)? {
                    if !files.contains(&external) {
                        files.push(external);
                    }
                }
            }
        }
        let stamps = file_stamps(&files)?;
        let mut hasher = Sha256::new();
        for file in &files {
            hasher.update(file.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            prepared::hash_into(&mut hasher, file, cancel)?;
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let value = format!("sha256:{hex}");
        self.fingerprint = Some((stamps, value.clone()));
        Ok(value)
    }
}

/// Loads a tower through the prepared store when one is configured.
fn load_tower(settings: &Settings, runtime: &Runtime, source: &TowerSource) -> Result<(Tower, Origin)> {
    let threads = settings.intra_op_threads;
    match &settings.prepared_dir {
        Some(store) => prepared::load_tower(
            runtime,
            store,
            source,
            threads,
            settings.cancel,
            &mut |m| settings.warn(m),
            &mut |m| settings.log(m),
        ),
        None => Ok((
            Tower::load(runtime, source.path, source.kind, source.bind, threads, settings.cancel)?,
            Origin::Original,
        )),
    }
}

/// Hands the heap pages that loading freed back to the system. Loading parses
/// the tokenizer's 1.9 MB JSON and ONNX Runtime's graph into temporaries; glibc
/// keeps freed pages below the heap's top, so without this each backend would
/// keep them as private memory for its whole life.
fn release_freed_memory() {
    // SAFETY: malloc_trim only returns free pages of this process's heaps to the kernel.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A model, found: its name, folder and variant.
struct ModelRef {
    name: String,
    dir: PathBuf,
    variant: String,
    /// The registry's key: the model directory joined with the name, so a
    /// changed `clip_embed.model_dir` never finds another directory's model.
    key: PathBuf,
}

/// The model named `name` (`folder` or `folder:variant`), checked to exist.
fn model_path(settings: &Settings, name: &str) -> Result<ModelRef> {
    validate_full_name(name)?;
    let (folder, variant) = layout::split_model_name(name);
    let dir = settings.model_dir.join(folder);
    let unknown = || Error::UnknownModel { name: name.to_string(), dir: settings.model_dir.clone() };
    let family = layout::family_of(&dir)?.ok_or_else(unknown)?;
    if !(family.variants)(&dir).iter().any(|v| v == variant) {
        return Err(unknown());
    }
    let key = settings.model_dir.join(name);
    Ok(ModelRef { name: name.to_string(), dir, variant: variant.to_string(), key })
}

/// The folders under the model directory that some family recognises, by name.
fn model_folders(model_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(model_dir).map_err(|e| io_error("model directory", model_dir, e))?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| layout::looks_like_model(&entry.path()))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .filter(|(name, _)| validate_model_name(name).is_ok())
        .collect();
    folders.sort();
    Ok(folders)
}

/// The most labels `clip_classify` takes: each costs a text-tower run and an
/// embedding kept for the softmax (10,000 x 1,152 floats of a SigLIP is 46 MB).
pub const MAX_LABELS: usize = 10_000;
/// The longest prompt (the template with each `{}` replaced by a label) in
/// bytes. Checked before a prompt is built: `repeat('{}', 100000)` with a
/// 100,000-character label composed a 10 GB string and aborted the backend.
/// The text tower reads at most its context (77 tokens) of any prompt.
pub const MAX_PROMPT_BYTES: u64 = 1 << 20;

/// The rules for `clip_classify`'s labels: at least one and at most
/// [`MAX_LABELS`], none blank, no duplicates (they would split one class's
/// probability), a template with a `{}` for the label, and no prompt over
/// [`MAX_PROMPT_BYTES`].
fn check_labels(labels: &[String], template: &str) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::InvalidArgument("labels must not be empty".into()));
    }
    if labels.len() > MAX_LABELS {
        return Err(Error::LimitExceeded(format!(
            "clip_classify takes at most {MAX_LABELS} labels, not {}",
            labels.len()
        )));
    }
    let slots = template.matches("{}").count() as u64;
    if slots == 0 {
        return Err(Error::InvalidArgument(format!("template \"{}\" has no {{}} for the label", bounded(template))));
    }
    let rest = template.len() as u64 - 2 * slots;
    if let Some(longest) = labels.iter().map(String::len).max() {
        let prompt = rest.saturating_add(slots.saturating_mul(longest as u64));
        if prompt > MAX_PROMPT_BYTES {
            return Err(Error::LimitExceeded(format!(
                "the template with the longest label makes a prompt of {prompt} bytes, over the {MAX_PROMPT_BYTES} a prompt may have"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, label) in labels.iter().enumerate() {
        if label.trim().is_empty() {
            return Err(Error::InvalidArgument(format!("label {} is empty", i + 1)));
        }
        if !seen.insert(label.as_str()) {
            return Err(Error::InvalidArgument(format!("duplicate label \"{}\"", bounded(label))));
        }
    }
    Ok(())
}

/// A path's file name, for messages.
fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

/// Normalises where asked, and refuses what no index could take: a model
/// that gives NaN or an infinity (pgvector's cast would refuse it later, in a
/// generated column as a less clear error).
fn finish(embedding: &mut [f32], normalize: bool) -> Result<()> {
    if embedding.iter().any(|v| !v.is_finite()) {
        return Err(Error::Inference("the model gave an embedding with NaN or infinite values".into()));
    }
    if normalize {
        l2_normalize(embedding);
    }
    Ok(())
}
