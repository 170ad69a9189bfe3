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
    fn normalize_gives_unit_norm_and_keeps_zero_vectors() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}
