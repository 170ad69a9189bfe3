//! The registry's view of the prepared store: `clip_prepared_models()` rows
//! (which copies the installed models load now) and removing copies.

use std::path::PathBuf;

use super::catalog::{model_folders, Folder};
use super::state::{Registry, Settings};
use crate::error::{bounded, Error, Result};
use crate::onnx::{Runtime, TowerKind};
use crate::prepared::{self, CopyInfo, Origin, TowerSource};

/// One row of `clip_prepared_models()`: a folder of the prepared store.
#[derive(Debug, Clone)]
pub struct PreparedCopy {
    /// The folder's name: model, tower, key.
    pub copy: String,
    pub model: Option<String>,
    pub tower: Option<String>,
    /// `current` (what the model's files load now), `stale` (older files, an
    /// older ONNX Runtime or another CPU), `unverified` (its model's files
    /// could not be read to tell), `preparing` (being written), `abandoned`
    /// (its writer died) or `incomplete` (no manifest).
    pub state: &'static str,
    pub bytes: u64,
    pub created_unix: Option<u64>,
    pub prepare_ms: Option<f64>,
    /// Whether this backend's loaded tower came from it.
    pub loaded_here: bool,
    pub path: PathBuf,
}

impl Registry {
    /// Every folder of the prepared store, and whether the installed models load it now.
    pub fn list_prepared(&mut self, settings: &Settings) -> Result<Vec<PreparedCopy>> {
        let Some(store) = &settings.prepared_dir else { return Ok(Vec::new()) };
        let (current, undetermined) = self.current_copies(settings)?;
        let loaded: Vec<&str> = self
            .models
            .values()
            .flat_map(|m| [(&m.visual_origin, m.visual.is_some()), (&m.textual_origin, m.textual.is_some())])
            .filter(|(_, loaded)| *loaded)
            .filter_map(|(origin, _)| match origin {
                Origin::Prepared(name) => Some(name.as_str()),
                Origin::Original => None,
            })
            .collect();
        Ok(prepared::list(store)?
            .into_iter()
            .map(|copy: CopyInfo| {
                let state = match (&copy.manifest, copy.temporary) {
                    (_, true) if prepared::writer_is_running(&copy.name) => "preparing",
                    (_, true) => "abandoned",
                    (None, false) => "incomplete",
                    (Some(_), false) if current.contains(&copy.name) => "current",
                    // Never removed as stale: the files may be back, unchanged, on the next look.
                    (Some(m), false)
                        if undetermined.iter().any(|u| *u == m.model || m.model.split(':').next() == Some(u)) =>
                    {
                        "unverified"
                    }
                    (Some(_), false) => "stale",
                };
                PreparedCopy {
                    loaded_here: loaded.contains(&copy.name.as_str()),
                    path: store.join(&copy.name),
                    model: copy.manifest.as_ref().map(|m| m.model.clone()),
                    tower: copy.manifest.as_ref().map(|m| m.tower.clone()),
                    created_unix: copy.manifest.as_ref().map(|m| m.created_unix),
                    prepare_ms: copy.manifest.as_ref().map(|m| m.prepare_ms),
                    bytes: copy.bytes,
                    state,
                    copy: copy.name,
                }
            })
            .collect())
    }

    /// Removes the prepared copy `copy`, or with None every copy that is not
    /// current (stale, incomplete, abandoned); returns (copy, bytes) removed.
    pub fn remove_prepared(&mut self, settings: &Settings, copy: Option<&str>) -> Result<Vec<(String, u64)>> {
        let Some(store) = settings.prepared_dir.clone() else { return Ok(Vec::new()) };
        let rows = self.list_prepared(settings)?;
        let mut removed = Vec::new();
        for row in rows {
            let chosen = match copy {
                Some(name) => row.copy == name,
                None => matches!(row.state, "stale" | "incomplete" | "abandoned"),
            };
            if chosen && prepared::remove(&store, &row.copy)? {
                removed.push((row.copy, row.bytes));
            }
        }
        if let Some(name) = copy {
            if removed.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "no prepared copy \"{}\" (SELECT name FROM clip_prepared_models() lists them)",
                    bounded(name)
                )));
            }
        }
        Ok(removed)
    }

    /// The copy names the installed models' towers load now (a graph whose
    /// content hash is not recorded is hashed once, cancellably), and the
    /// models whose files could not be read or described to tell.
    pub(super) fn current_copies(&mut self, settings: &Settings) -> Result<(Vec<String>, Vec<String>)> {
        let Some(store) = &settings.prepared_dir else { return Ok((Vec::new(), Vec::new())) };
        Runtime::get_or_load(&settings.onnxruntime_path)?; // the key names ONNX Runtime's build
        let (mut current, mut undetermined) = (Vec::new(), Vec::new());
        let Ok(folders) = model_folders(&settings.model_dir) else {
            // No model directory to read: nothing can be called stale.
            let models = prepared::list(store)?.into_iter().filter_map(|c| c.manifest.map(|m| m.model));
            return Ok((current, models.collect()));
        };
        for Folder { name: folder, dir, family } in folders {
            let Ok(family) = family else {
                undetermined.push(folder);
                continue;
            };
            for (name, variant) in family.models(&folder, &dir) {
                let Ok(layout) = (family.describe)(&dir, &settings.model_dir, &variant) else {
                    undetermined.push(name);
                    continue;
                };
                for kind in [TowerKind::Visual, TowerKind::Textual] {
                    let source = TowerSource::of(&name, &layout, kind);
                    match prepared::current_copy_name(store, &source, settings.cancel) {
                        Ok(copy) => current.push(copy),
                        Err(Error::Cancelled) => return Err(Error::Cancelled),
                        // A tower the folder does not have has no current copy.
                        Err(Error::MissingFile { .. }) => {}
                        Err(_) => undetermined.push(name.clone()),
                    }
                }
            }
        }
        Ok((current, undetermined))
    }
}
