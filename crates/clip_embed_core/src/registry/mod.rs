//! The per-process registry: models found by name, towers loaded on first
//! use, and what a SQL call asks of them.
//!
//! A model is a folder under the model directory, of one of the families in
//! [`crate::layout`]; its [`Layout`] says which files hold what and how inputs
//! are prepared. Each tower loads on first use and stays loaded for the life
//! of the [`Registry`] (one per backend): a backend that only embeds text
//! never loads the vision tower.
//!
//! * `state`: [`Settings`], and the [`Registry`] of loaded models
//! * `embed`: embedding texts and images
//! * `catalog`: the models the model directory holds, found or listed, and
//!   their fingerprints
//! * [`names`]: model names (`folder`, `folder:variant`)
//! * `towers`: the one place a tower loads
//! * `zero_shot`: `clip_classify`'s scoring
//! * `prepared_copies`: the prepared store as `clip_prepared_models()` sees it
//! * `preload`: models loaded before the process forks, checked once per backend

mod catalog;
mod embed;
pub mod names;
mod preload;
mod prepared_copies;
mod state;
mod towers;
mod zero_shot;

pub use catalog::ModelInfo;
pub use preload::{plug_heap_holes, PluggedHoles};
pub use prepared_copies::PreparedCopy;
pub use state::{Registry, Settings};
pub use towers::use_one_malloc_arena;
pub use zero_shot::{MAX_LABELS, MAX_PROMPT_BYTES};
