//! One error type for the core. Every variant belongs to an [`ErrorKind`],
//! which the extension maps to a SQLSTATE (`src/errors.rs`); the core itself
//! never knows about Postgres.

use std::path::PathBuf;

/// What went wrong, coarse enough to pick a SQLSTATE from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Empty, corrupt or unsupported image bytes.
    InvalidImage,
    /// Input over a configured byte or pixel limit.
    LimitExceeded,
    /// A bad argument value (empty text, bad array, bad setting value).
    InvalidArgument,
    /// Arrays of different lengths.
    DimensionMismatch,
    /// A vector pgvector would not take: NaN or infinite elements, more than one dimension.
    InvalidVector,
    /// An array with a NULL element.
    NullValue,
    /// No model folder of that name.
    UnknownModel,
    /// A model name that is not a plain folder name.
    InvalidModelName,
    /// A model file, or the ONNX Runtime library, does not exist.
    MissingFile,
    /// A file exists but could not be read.
    Io,
    /// Model files that exist but cannot be used (bad config, bad graph signature).
    InvalidModel,
    /// ONNX Runtime failed while running a model.
    Inference,
    /// The run was stopped because the query was cancelled.
    Cancelled,
}

/// Everything the core can fail with; the message is what the user reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("different vector dimensions {0} and {1}")]
    DimensionMismatch(usize, usize),
    #[error("{0}")]
    InvalidVector(&'static str),
    #[error("array must not contain nulls")]
    NullValue,
    #[error("model \"{}\" does not exist", bounded(name))]
    UnknownModel { name: String, dir: PathBuf },
    #[error("invalid model name \"{}\"", bounded(.0))]
    InvalidModelName(String),
    #[error("{what} not found at \"{}\"", path.display())]
    MissingFile { what: &'static str, path: PathBuf },
    #[error("could not read \"{}\": {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    InvalidModel(String),
    #[error("ONNX Runtime failed: {0}")]
    Inference(String),
    #[error("model run cancelled")]
    Cancelled,
}

impl Error {
    /// The coarse class the SQL layer maps to a SQLSTATE.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidImage(_) => ErrorKind::InvalidImage,
            Error::LimitExceeded(_) => ErrorKind::LimitExceeded,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::DimensionMismatch(..) => ErrorKind::DimensionMismatch,
            Error::InvalidVector(_) => ErrorKind::InvalidVector,
            Error::NullValue => ErrorKind::NullValue,
            Error::UnknownModel { .. } => ErrorKind::UnknownModel,
            Error::InvalidModelName(_) => ErrorKind::InvalidModelName,
            Error::MissingFile { .. } => ErrorKind::MissingFile,
            Error::Io { .. } => ErrorKind::Io,
            Error::InvalidModel(_) => ErrorKind::InvalidModel,
            Error::Inference(_) => ErrorKind::Inference,
            Error::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// A hint for the user where one helps, in Postgres's HINT style.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::UnknownModel { dir, .. } => Some(format!(
                "Models are folders under clip_embed.model_dir (\"{}\"); SELECT * FROM clip_models() lists them.",
                dir.display()
            )),
            Error::InvalidModelName(_) => {
                Some("A model name is a folder name: letters, digits, '.', '_' and '-'.".into())
            }
            Error::MissingFile { what: "model directory", .. } => Some(
                "Set clip_embed.model_dir to the folder that holds the models, on every server that embeds (each node of a Citus cluster).".into(),
            ),
            Error::MissingFile { what, .. } if what.contains("ONNX Runtime") => Some(
                "Set clip_embed.onnxruntime_path to the absolute path of libonnxruntime.so (1.31 or newer).".into(),
            ),
            _ => None,
        }
    }
}

/// The longest piece of user input a message quotes, in characters.
const QUOTED_CHARS: usize = 64;

/// `value` as a message quotes it: whole if short, else its first
/// [`QUOTED_CHARS`] characters and "...", so a 100k-character argument never
/// becomes a 100k-character ERROR in the server log.
pub fn bounded(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An I/O error on `path`: a missing `what` (58P01) or an unreadable file (58030).
pub(crate) fn io_error(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::MissingFile { what, path: path.to_path_buf() }
    } else {
        Error::Io { path: path.to_path_buf(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_a_bounded_prefix_of_user_input() {
        let long = "x".repeat(100_000);
        let message = Error::InvalidModelName(long).to_string();
        assert_eq!(message, format!("invalid model name \"{}...\"", "x".repeat(64)));
        assert_eq!(Error::InvalidModelName("a/b".into()).to_string(), "invalid model name \"a/b\"");
        assert_eq!(bounded(&"é".repeat(65)), format!("{}...", "é".repeat(64)));
    }
}
