//! Zero-shot classification: labels put into a template, embedded with the
//! text tower (cached like any text), scored against an image embedding.

use super::state::{Registry, Settings};
use crate::error::{bounded, Error, Result};
use crate::math::{zero_shot, zero_shot_sigmoid};
use crate::recipe::Scoring;

impl Registry {
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
    pub(super) fn score_labels(
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
pub(super) fn check_labels(labels: &[String], template: &str) -> Result<()> {
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
