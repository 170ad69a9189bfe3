//! The catalogue: which models the model directory holds (each variant of a
//! folder its own model), found by name or listed, with their fingerprints.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::names::{model_name, split_model_name, validate_full_name, validate_model_name};
use super::state::{FileStamp, Model, Registry, Settings};
use crate::cancel::CancelCheck;
use crate::error::{io_error, Error, Result};
use crate::layout::{self, Family, Layout};
use crate::onnx::Tower;
use crate::prepared::{self, Origin};

impl Registry {
    /// Every model under the model directory (each variant of a folder its
    /// own row), with what this registry has loaded.
    pub fn list_models(&mut self, settings: &Settings) -> Result<Vec<ModelInfo>> {
        let mut rows = Vec::new();
        for Folder { name: folder, dir, family } in model_folders(&settings.model_dir)? {
            let family = match family {
                Ok(family) => family,
                Err(problem) => {
                    // One unusable folder must not hide the others.
                    rows.push(ModelInfo::unusable(folder, "", "", dir, problem));
                    continue;
                }
            };
            for (name, variant) in family.models(&folder, &dir) {
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
    pub(super) fn resolve(&self, settings: &Settings, name: &str) -> Result<ModelRef> {
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

    pub(super) fn model(&mut self, model_dir: &Path, found: &ModelRef) -> Result<&mut Model> {
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
                preloaded: None,
            };
            self.models.insert(found.key.clone(), model);
        }
        Ok(self.models.get_mut(&found.key).expect("inserted above"))
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
    pub(super) fn unusable(
        name: String,
        family: &'static str,
        variant: &str,
        path: PathBuf,
        problem: Error,
    ) -> ModelInfo {
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

pub(super) fn file_stamps(files: &[PathBuf]) -> Result<Vec<FileStamp>> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).map_err(|e| io_error("model file", f, e))?;
            Ok((f.clone(), meta.len(), meta.modified().ok()))
        })
        .collect()
}

/// A model, found: its name, folder and variant.
pub(super) struct ModelRef {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) variant: String,
    /// The registry's key: the model directory joined with the name, so a
    /// changed `clip_embed.model_dir` never finds another directory's model.
    pub(super) key: PathBuf,
}

/// The model named `name` (`folder` or `folder:variant`), checked to exist.
pub(super) fn model_path(settings: &Settings, name: &str) -> Result<ModelRef> {
    validate_full_name(name)?;
    let (folder, variant) = split_model_name(name);
    let dir = settings.model_dir.join(folder);
    // A model directory missing altogether is this server's installation
    // (58P01, as clip_models() says), not a name nobody installed (42704): on a
    // Citus worker set up without it, the error Citus passes back says which.
    let unknown = || match std::fs::metadata(&settings.model_dir) {
        Err(e) => io_error("model directory", &settings.model_dir, e),
        Ok(_) => Error::UnknownModel { name: name.to_string(), dir: settings.model_dir.clone() },
    };
    let family = layout::family_of(&dir)?.ok_or_else(unknown)?;
    if !(family.variants)(&dir).iter().any(|v| v == variant) {
        return Err(unknown());
    }
    let key = settings.model_dir.join(name);
    Ok(ModelRef { name: name.to_string(), dir, variant: variant.to_string(), key })
}

/// A folder of the model directory that a family recognises.
pub(super) struct Folder {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    /// Its family, or why it has none (several families' files in one folder).
    pub(super) family: Result<&'static Family>,
}

/// The folders under the model directory that some family recognises, by
/// name: the one walk behind listing models and listing current copies.
pub(super) fn model_folders(model_dir: &Path) -> Result<Vec<Folder>> {
    let entries = std::fs::read_dir(model_dir).map_err(|e| io_error("model directory", model_dir, e))?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| layout::looks_like_model(&entry.path()))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .filter(|(name, _)| validate_model_name(name).is_ok())
        .collect();
    folders.sort();
    Ok(folders
        .into_iter()
        .filter_map(|(name, dir)| {
            let family = match layout::family_of(&dir) {
                Ok(None) => return None, // gone since the listing
                Ok(Some(family)) => Ok(family),
                Err(problem) => Err(problem),
            };
            Some(Folder { name, dir, family })
        })
        .collect())
}

impl Family {
    /// The models a folder of this family holds: (model name, variant) per variant.
    pub(super) fn models(&self, folder: &str, dir: &Path) -> Vec<(String, String)> {
        (self.variants)(dir).into_iter().map(|variant| (model_name(folder, &variant), variant)).collect()
    }
}

impl Model {
    /// A content hash over every file the model loads: its layout's files and
    /// the external-data files its graphs name. Recomputed only when one of
    /// them changes size or mtime; hashing polls `cancel` (a fresh backend's
    /// `clip_models()` hashes every model's files).
    pub(super) fn fingerprint(&mut self, cancel: Option<CancelCheck>) -> Result<String> {
        if let Some((cached, value)) = &self.fingerprint {
            let files: Vec<PathBuf> = cached.iter().map(|(f, ..)| f.clone()).collect();
            if file_stamps(&files)? == *cached {
                return Ok(value.clone());
            }
        }
        let mut files = self.layout.files.clone();
        for graph in [&self.layout.visual, &self.layout.textual] {
            if graph.is_file() {
                for external in crate::onnx::external_data::external_data_files(graph)? {
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
