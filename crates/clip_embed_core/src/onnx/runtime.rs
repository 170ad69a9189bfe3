//! The ONNX Runtime shared library and its one environment.
//!
//! Inside a Postgres backend the library is loaded from an absolute path with
//! `ort::init_from` before any other `ort` call (any other call would try
//! `dlopen("libonnxruntime.so")` and panic), and the environment is created
//! with every signal blocked, so ORT's threads never take Postgres's signals.

use std::path::Path;

use once_cell::sync::OnceCell;
use ort::environment::Environment;

use crate::error::{Error, Result};
use crate::worker::with_signals_blocked;

/// The loaded ONNX Runtime library and its one environment: ONNX Runtime allows
/// one environment per process, so it is process-global. A failed load leaves
/// nothing behind and is retried on the next call (after the setting is fixed).
pub struct Runtime {
    pub(super) environment: Environment,
}

static RUNTIME: OnceCell<Runtime> = OnceCell::new();

impl Runtime {
    /// The process's runtime, loading ONNX Runtime from `library` on first use.
    /// Later calls return the loaded one whatever `library` says: a process
    /// cannot unload it.
    pub fn get_or_load(library: &Path) -> Result<&'static Runtime> {
        RUNTIME.get_or_try_init(|| Runtime::load(library))
    }

    /// Maps ONNX Runtime's library (`dlopen`) without creating the
    /// environment, for a process about to fork: the library starts no thread
    /// when mapped, but `CreateEnv` starts one (ONNX Runtime 1.32), which a
    /// forked child would not have. The children then find the library mapped
    /// and relocated, and [`Runtime::get_or_load`] only creates the
    /// environment. Mapping it again, or another path later, does nothing.
    pub fn load_library(library: &Path) -> Result<()> {
        Runtime::open(library).map(drop)
    }

    /// Loads ONNX Runtime from `library` (an absolute path) and creates the environment.
    fn load(library: &Path) -> Result<Runtime> {
        let builder = Runtime::open(library)?;
        let environment = with_signals_blocked(|| builder.with_name("clip_embed").with_telemetry(false).build())
            .map_err(|e| Error::Inference(format!("could not create the ONNX Runtime environment: {e}")))?;
        Ok(Runtime { environment })
    }

    /// Maps the library at `library`, checked to be an absolute path to a file.
    fn open(library: &Path) -> Result<ort::environment::EnvironmentBuilder> {
        if !library.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "clip_embed.onnxruntime_path must be an absolute path, not \"{}\"",
                library.display()
            )));
        }
        if !library.exists() {
            return Err(Error::MissingFile { what: "ONNX Runtime library", path: library.to_path_buf() });
        }
        ort::init_from(library).map_err(|e| {
            Error::InvalidModel(format!("could not load ONNX Runtime from \"{}\": {e}", library.display()))
        })
    }
}
