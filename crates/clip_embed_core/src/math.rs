//! Vector math on embeddings, with pgvector's conventions for edge cases.

use crate::error::{Error, Result};

/// Cosine similarity of two vectors, accumulated in f64 like pgvector's
/// `cosine_distance`, clamped to [-1, 1] against rounding.
///
/// Edge cases follow pgvector, so a value means the same as `1 - (a <=> b)`:
/// * a zero vector has no direction: the result is NaN, as
///   `'[0,0]'::vector <=> '[1,1]'` is NaN in pgvector;
/// * NaN and infinite elements are errors, with the messages pgvector's
///   `vector` input gives (it takes neither, so no stored vector holds one);
/// * different lengths and empty vectors are errors.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::DimensionMismatch(a.len(), b.len()));
    }
    if a.is_empty() {
        return Err(Error::InvalidArgument("vector must have at least 1 dimension".into()));
    }
    for &x in a.iter().chain(b) {
        if x.is_nan() {
            return Err(Error::InvalidVector("NaN not allowed in vector"));
        }
        if x.is_infinite() {
            return Err(Error::InvalidVector("infinite value not allowed in vector"));
        }
    }
    let (mut dot, mut norm_a, mut norm_b) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    let denominator = (norm_a * norm_b).sqrt();
    if denominator == 0.0 {
        return Ok(f64::NAN);
    }
    Ok((dot / denominator).clamp(-1.0, 1.0))
}

/// Scales `v` to unit L2 norm in place, as OpenAI's examples do before comparing
/// (`features / features.norm(dim=-1, keepdim=True)`). A zero vector stays zero,
/// like pgvector's `l2_normalize`.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// One label's result of [`zero_shot`].
#[derive(Debug, Clone, PartialEq)]
pub struct LabelScore {
    /// Index into the labels given.
    pub label: usize,
    /// Softmax over the labels of `logit_scale * similarity`.
    pub probability: f64,
    /// Cosine similarity of the image and the label's text embedding.
    pub similarity: f64,
}

/// CLIP zero-shot classification: each label's cosine with the image, and a
/// softmax over `logit_scale` times those (in f64, from the largest logit,
/// so it never overflows), best first; ties keep the labels' order.
pub fn zero_shot(image: &[f32], labels: &[Vec<f32>], logit_scale: f64) -> Result<Vec<LabelScore>> {
    let similarities: Vec<f64> = labels.iter().map(|l| cosine_similarity(image, l)).collect::<Result<_>>()?;
    let largest = similarities.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = similarities.iter().map(|s| (logit_scale * (s - largest)).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut scores: Vec<LabelScore> = similarities
        .iter()
        .zip(&weights)
        .enumerate()
        .map(|(label, (&similarity, &w))| LabelScore { label, probability: w / total, similarity })
        .collect();
    scores.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    Ok(scores)
}

/// SigLIP zero-shot classification: each label's cosine with the image, and
/// `sigmoid(logit_scale * cosine + logit_bias)` for each label on its own (the
/// probabilities need not sum to 1: SigLIP is trained on independent
/// match/no-match decisions), best first; ties keep the labels' order.
pub fn zero_shot_sigmoid(
    image: &[f32],
    labels: &[Vec<f32>],
    logit_scale: f64,
    logit_bias: f64,
) -> Result<Vec<LabelScore>> {
    let mut scores: Vec<LabelScore> = labels
        .iter()
        .enumerate()
        .map(|(label, l)| {
            let similarity = cosine_similarity(image, l)?;
            let probability = 1.0 / (1.0 + (-(logit_scale * similarity + logit_bias)).exp());
            Ok(LabelScore { label, probability, similarity })
        })
        .collect::<Result<_>>()?;
    scores.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn cosine_of_parallel_orthogonal_and_opposite_vectors() {
        assert_eq!(cosine_similarity(&[1.0, 2.0], &[2.0, 4.0]).unwrap(), 1.0);
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[0.0, 3.0]).unwrap(), 0.0);
        assert_eq!(cosine_similarity(&[1.0, 1.0], &[-1.0, -1.0]).unwrap(), -1.0);
        let s = cosine_similarity(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        assert!((s - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12, "{s}");
    }

    #[test]
    fn cosine_with_zero_vector_is_nan_like_pgvector() {
        assert!(cosine_similarity(&[0.0, 0.0], &[1.0, 1.0]).unwrap().is_nan());
    }

    #[test]
    fn cosine_rejects_nan_and_infinite_elements_like_pgvector_input() {
        let err = cosine_similarity(&[1.0, f32::NAN], &[1.0, 1.0]).unwrap_err();
        assert_eq!((err.kind(), err.to_string().as_str()), (ErrorKind::InvalidVector, "NaN not allowed in vector"));
        let err = cosine_similarity(&[1.0, 1.0], &[f32::NEG_INFINITY, 1.0]).unwrap_err();
        assert_eq!(err.to_string(), "infinite value not allowed in vector");
    }

    #[test]
    fn cosine_of_the_largest_finite_values_does_not_overflow() {
        let s = cosine_similarity(&[f32::MAX, f32::MAX], &[f32::MAX, -f32::MAX]).unwrap();
        assert_eq!(s, 0.0);
    }

    #[test]
    fn cosine_rejects_mismatched_and_empty_vectors() {
        let err = cosine_similarity(&[1.0, 2.0], &[1.0]).unwrap_err();
        assert_eq!(err.to_string(), "different vector dimensions 2 and 1");
        assert!(cosine_similarity(&[], &[]).is_err());
    }

    #[test]
    fn zero_shot_sigmoid_scores_each_label_on_its_own() {
        let image = [1.0, 0.0];
        let labels = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        let scores = zero_shot_sigmoid(&image, &labels, 10.0, -10.0).unwrap();
        assert_eq!(scores[0].label, 1);
        // cos 1: sigmoid(10 - 10) = 0.5; cos 0: sigmoid(-10).
        assert!((scores[0].probability - 0.5).abs() < 1e-12);
        assert!((scores[1].probability - 1.0 / (1.0 + 10f64.exp())).abs() < 1e-15);
    }

    #[test]
    fn zero_shot_is_a_softmax_of_scaled_cosines_best_first() {
        let image = [1.0, 0.0];
        let labels = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![1.0, 1.0]];
        let scores = zero_shot(&image, &labels, 100.0).unwrap();
        assert_eq!(scores.iter().map(|s| s.label).collect::<Vec<_>>(), [1, 2, 0]);
        let sum: f64 = scores.iter().map(|s| s.probability).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        let logits = [0.0f64, 100.0, 100.0 * std::f64::consts::FRAC_1_SQRT_2];
        let expected = logits[1].exp() / logits.iter().map(|l| l.exp()).sum::<f64>();
        assert!((scores[0].probability - expected).abs() < 1e-12);
        assert_eq!(scores[0].similarity, 1.0);
        // Huge scales do not overflow.
        assert_eq!(zero_shot(&image, &labels, 1e6).unwrap()[0].probability, 1.0);
    }

    #[test]
    fn normalize_gives_unit_norm_and_keeps_zero_vectors() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}
