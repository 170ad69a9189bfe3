//! Reading a family's JSON configuration files, with errors that name the
//! file and the key.

use std::path::Path;

use crate::error::{Error, Result};

/// A JSON configuration file of a model folder: a clear error names the file
/// when it is missing or is not JSON.
pub(crate) fn read_json(path: &Path, what: &'static str) -> Result<serde_json::Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingFile { what, path: path.to_path_buf() })
        }
        Err(e) => return Err(crate::error::io_error(what, path, e)),
    };
    serde_json::from_str(&text).map_err(|e| Error::InvalidModel(format!("invalid \"{}\": {e}", path.display())))
}

/// Reads typed values out of one configuration file, naming the file and the
/// key in every error.
pub(crate) struct Config<'a> {
    pub path: &'a Path,
    pub value: &'a serde_json::Value,
}

impl Config<'_> {
    /// The value at a `/`-separated key path, if present and not null.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        key.split('/').try_fold(self.value, |v, k| v.get(k)).filter(|v| !v.is_null())
    }

    pub fn invalid(&self, what: impl std::fmt::Display) -> Error {
        Error::InvalidModel(format!("invalid \"{}\": {what}", self.path.display()))
    }

    /// A whole number in `range`, if the key is present.
    pub fn uint(&self, key: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        match value.as_u64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(format!(
                "{key} is {}, not a whole number from {} to {}",
                crate::error::bounded(&value.to_string()),
                range.start(),
                range.end()
            ))),
        }
    }

    /// A finite number, if the key is present.
    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.as_f64().filter(|n| n.is_finite()).map(Some).ok_or_else(|| self.invalid(format!("{key} is not a number")))
    }

    /// A string, if the key is present.
    pub fn string(&self, key: &str) -> Result<Option<&str>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.as_str().map(Some).ok_or_else(|| self.invalid(format!("{key} is not a string")))
    }

    /// A per-channel triple (mean or std); one number means the same for each channel.
    pub fn triple(&self, key: &str, positive: bool) -> Result<Option<[f32; 3]>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let numbers: Option<Vec<f64>> = match value {
            serde_json::Value::Array(items) => items.iter().map(|v| v.as_f64()).collect(),
            single => single.as_f64().map(|n| vec![n; 3]),
        };
        // Normalisation divides by the std: bounded so that (pixel - mean) / std
        // stays finite in f32 (a std of 1e-300 became 0.0 and NaN vectors).
        let range = if positive { 1e-6..=1e3 } else { -1e3..=1e3 };
        match numbers.as_deref() {
            Some(&[a, b, c]) if [a, b, c].iter().all(|n| range.contains(n)) => Ok(Some([a as f32, b as f32, c as f32])),
            _ => Err(self.invalid(format!("{key} must be three numbers from {} to {}", range.start(), range.end()))),
        }
    }

    /// A square side: a number, `[s, s]`, or `{"height": s, "width": s}`.
    pub fn square(&self, key: &str) -> Result<Option<u32>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let side = |v: &serde_json::Value| v.as_u64().filter(|n| (1..=4096).contains(n));
        let sides = match value {
            serde_json::Value::Array(items) if items.len() == 2 => (side(&items[0]), side(&items[1])),
            serde_json::Value::Object(map) => (map.get("height").and_then(side), map.get("width").and_then(side)),
            single => (side(single), side(single)),
        };
        match sides {
            (Some(h), Some(w)) if h == w => Ok(Some(h as u32)),
            (Some(h), Some(w)) => Err(self.invalid(format!("{key} is {h}x{w}; only square inputs are supported"))),
            _ => Err(self.invalid(format!("{key} must be a side from 1 to 4096"))),
        }
    }
}
