//! Model names: plain folder names under the model directory.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_plain_folder_names() {
        for ok in ["tiny-random", "ViT-B-16", "clip_v1.2"] {
            assert!(validate_model_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../etc", "a/b", "/abs", ".hidden", "sp ace", "x\0y"] {
            assert!(validate_model_name(bad).is_err(), "{bad:?}");
        }
    }
}
