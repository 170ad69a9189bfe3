//! Model names: `folder` or `folder:variant`, the folder a plain name under
//! the model directory.

use crate::error::{Error, Result};

/// Checks that `name` is a plain folder name, so it can never reach outside
/// the model directory ("../x", "/etc", "").
pub fn validate_model_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidModelName(name.to_string()))
    }
}

/// Checks a whole model name, `folder` or `folder:variant`, before it reaches
/// any cache or file: the folder as [`validate_model_name`], the variant as a
/// plain file-name suffix (letters, digits, '.', '_', '-', at most 63). Every
/// backend then gives the same answer for the same name (`./clip-shapes` was
/// an error in a fresh backend and a result once `clip-shapes` was loaded), and
/// a 100,000-character variant is refused by its shape, quoted in 64 characters.
pub fn validate_full_name(name: &str) -> Result<()> {
    let invalid = || Err(Error::InvalidModelName(name.to_string()));
    let (folder, variant) = name.split_once(':').unwrap_or((name, ""));
    if validate_model_name(folder).is_err() {
        return invalid();
    }
    let plain_variant =
        variant.len() <= 63 && variant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.ends_with(':') || !plain_variant {
        return invalid();
    }
    Ok(())
}

/// Splits a model name into its folder and variant: `"clip"` is the folder's
/// plain variant, `"clip:quantized"` its `quantized` one.
pub fn split_model_name(name: &str) -> (&str, &str) {
    name.split_once(':').unwrap_or((name, ""))
}

/// The model name of a folder's variant.
pub fn model_name(folder: &str, variant: &str) -> String {
    if variant.is_empty() {
        folder.to_string()
    } else {
        format!("{folder}:{variant}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_are_checked_folder_and_variant() {
        for ok in ["clip-shapes", "hf-clip:quantized", "hf-clip:fp16", "x:UPPER"] {
            assert!(validate_full_name(ok).is_ok(), "{ok}");
        }
        let long_variant = format!("clip-shapes:{}", "a".repeat(100_000));
        for bad in ["clip-shapes/", "./clip-shapes", "clip-shapes:", "a:b:c", "a:b/c", long_variant.as_str()] {
            assert!(validate_full_name(bad).is_err(), "{:?}", &bad[..bad.len().min(20)]);
        }
        let message = validate_full_name(&long_variant).unwrap_err().to_string();
        assert!(message.len() < 100, "{}", message.len());
    }

    #[test]
    fn model_names_are_plain_folder_names() {
        for ok in ["tiny-random", "ViT-B-16", "clip_v1.2"] {
            assert!(validate_model_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../etc", "a/b", "/abs", ".hidden", "sp ace", "x\0y"] {
            assert!(validate_model_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn variant_names_split_at_the_colon() {
        assert_eq!(split_model_name("clip"), ("clip", ""));
        assert_eq!(split_model_name("clip:quantized"), ("clip", "quantized"));
        assert_eq!(model_name("clip", ""), "clip");
        assert_eq!(model_name("clip", "fp16"), "clip:fp16");
    }
}
