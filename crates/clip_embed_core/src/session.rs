//! ONNX Runtime: loading the shared library, creating sessions for the two
//! CLIP towers, and running them, cancellably.
//!
//! Inside a Postgres backend: the library is loaded from an absolute path with
//! `ort::init_from` before any other `ort` call (any other call would try
//! `dlopen("libonnxruntime.so")` and panic); environment and sessions are created
//! with every signal blocked, so ORT's worker threads never take Postgres's
//! signals; and `Session::run` ignores `statement_timeout`, so a watchdog thread
//! polls a cancel check every 5 ms and terminates the run (measured: a 300 ms
//! timeout fired after 3013 ms without it, 453 ms with it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ndarray::{Array2, Array4};
use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::error::{Error, Result};

/// A callback the watchdog polls during a run; true stops the run.
pub type CancelCheck = fn() -> bool;

/// How often the watchdog polls the cancel check during a run.
const CANCEL_POLL: Duration = Duration::from_millis(5);

/// The loaded ONNX Runtime library and its one environment: ONNX Runtime allows
/// one environment per process, so it is process-global. A failed load leaves
/// nothing behind and is retried on the next call (after the setting is fixed).
pub struct Runtime {
    environment: Environment,
}

static RUNTIME: OnceCell<Runtime> = OnceCell::new();

impl Runtime {
    /// The process's runtime, loading ONNX Runtime from `library` on first use.
    /// Later calls return the loaded one whatever `library` says: a process
    /// cannot unload it.
    pub fn get_or_load(library: &Path) -> Result<&'static Runtime> {
        RUNTIME.get_or_try_init(|| Runtime::load(library))
    }

    /// Loads ONNX Runtime from `library` (an absolute path) and creates the environment.
    fn load(library: &Path) -> Result<Runtime> {
        if !library.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "clip_embed.onnxruntime_path must be an absolute path, not \"{}\"",
                library.display()
            )));
        }
        if !library.exists() {
            return Err(Error::MissingFile { what: "ONNX Runtime library", path: library.to_path_buf() });
        }
        let builder = ort::init_from(library).map_err(|e| {
            Error::InvalidModel(format!("could not load ONNX Runtime from \"{}\": {e}", library.display()))
        })?;
        let environment = with_signals_blocked(|| builder.with_name("clip_embed").with_telemetry(false).build())
            .map_err(|e| Error::Inference(format!("could not create the ONNX Runtime environment: {e}")))?;
        Ok(Runtime { environment })
    }
}

/// Which CLIP tower a graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TowerKind {
    /// `visual.onnx`: pixels `[N,3,S,S]` to embeddings.
    Visual,
    /// `textual.onnx`: token ids `[N,L]` to embeddings.
    Textual,
}

/// One loaded tower: the session and what was read from its signature.
pub struct Tower {
    session: Session,
    input_name: String,
    input_type: TensorElementType,
    /// Static input dims, -1 where dynamic; `[N,3,S,S]` or `[N,L]`.
    input_dims: Vec<i64>,
    /// An HF-style `attention_mask` input of a text tower, if it has one.
    mask_input: Option<(String, TensorElementType)>,
    output_name: String,
    /// The embedding width, if the graph states it.
    pub output_dim: Option<usize>,
    /// Wall time the session took to create.
    pub load_time: Duration,
    /// The intra-op thread count the session was created with.
    pub threads: usize,
}

impl Tower {
    /// Creates a session for `path`, reading input and output names from the model.
    pub fn load(runtime: &Runtime, path: &Path, kind: TowerKind, threads: usize) -> Result<Tower> {
        // ORT's own open error says less: check existence and permissions first.
        std::fs::File::open(path).map_err(|e| crate::error::io_error("model file", path, e))?;
        let started = Instant::now();
        let ort_error = |e: ort::Error| Error::InvalidModel(format!("could not load \"{}\": {e}", path.display()));
        let session = with_signals_blocked(|| {
            Session::builder(&runtime.environment)?
                .with_intra_threads(threads)?
                .with_inter_threads(1)?
                .commit_from_file(path)
        })
        .map_err(ort_error)?;
        let load_time = started.elapsed();
        let tensor = |t: &ValueType| match t {
            ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.to_vec())),
            _ => None,
        };
        let bad =
            |why: String| Error::InvalidModel(format!("\"{}\" is not a CLIP {kind:?} tower: {why}", path.display()));
        let inputs: Vec<_> = session
            .inputs()
            .iter()
            .filter_map(|o| tensor(o.dtype()).map(|(ty, dims)| (o.name().to_string(), ty, dims)))
            .collect();
        let (input_name, input_type, input_dims, mask_input) = match kind {
            TowerKind::Visual => {
                let (name, ty, dims) = inputs
                    .iter()
                    .find(|(_, ty, dims)| *ty == TensorElementType::Float32 && dims.len() == 4)
                    .cloned()
                    .ok_or_else(|| bad("no float32 input of shape [N,3,H,W]".into()))?;
                if dims[1] != 3 && dims[1] != -1 {
                    return Err(bad(format!("pixel input has {} channels, not 3", dims[1])));
                }
                (name, ty, dims, None)
            }
            TowerKind::Textual => {
                let is_int = |ty: &TensorElementType| matches!(ty, TensorElementType::Int64 | TensorElementType::Int32);
                let ids = inputs
                    .iter()
                    .find(|(name, ty, dims)| is_int(ty) && dims.len() == 2 && !name.contains("mask"))
                    .cloned()
                    .ok_or_else(|| bad("no int32/int64 input of shape [N,L]".into()))?;
                let mask = inputs
                    .iter()
                    .find(|(name, ty, dims)| is_int(ty) && dims.len() == 2 && name.contains("mask"))
                    .map(|(name, ty, _)| (name.clone(), *ty));
                (ids.0, ids.1, ids.2, mask)
            }
        };
        let other_inputs = inputs.len() - 1 - usize::from(mask_input.is_some());
        if other_inputs > 0 {
            return Err(bad(format!("{} inputs, expected 1 (or ids and attention_mask)", inputs.len())));
        }
        let outputs: Vec<_> = session
            .outputs()
            .iter()
            .filter_map(|o| tensor(o.dtype()).map(|(ty, dims)| (o.name().to_string(), ty, dims)))
            .filter(|(_, ty, dims)| *ty == TensorElementType::Float32 && dims.len() == 2)
            .collect();
        // Exports with several outputs name the embedding one *embed*; else take the first [N,D].
        let (output_name, _, output_dims) = outputs
            .iter()
            .find(|(name, ..)| name.contains("embed"))
            .or_else(|| outputs.first())
            .cloned()
            .ok_or_else(|| bad("no float32 output of shape [N,D]".into()))?;
        let output_dim = usize::try_from(output_dims[1]).ok();
        Ok(Tower {
            session,
            input_name,
            input_type,
            input_dims,
            mask_input,
            output_name,
            output_dim,
            load_time,
            threads,
        })
    }

    /// The static side of a square pixel input (`S` of `[N,3,S,S]`), if the graph fixes it.
    pub fn image_size(&self) -> Option<u32> {
        self.input_dims.get(2).and_then(|&d| u32::try_from(d).ok())
    }

    /// The static token count of a text input (`L` of `[N,L]`), if the graph fixes it.
    pub fn context_length(&self) -> Option<usize> {
        self.input_dims.get(1).and_then(|&d| usize::try_from(d).ok())
    }

    /// Runs the visual tower on one `[3,S,S]` tensor.
    pub fn embed_pixels(&mut self, pixels: Vec<f32>, size: u32, cancel: Option<CancelCheck>) -> Result<Vec<f32>> {
        let s = size as usize;
        let array = Array4::from_shape_vec((1, 3, s, s), pixels)
            .map_err(|e| Error::Inference(format!("pixel tensor of the wrong size: {e}")))?;
        let input = Tensor::from_array(array).map_err(inference_error)?;
        let inputs = vec![(self.input_name.clone().into(), SessionInputValue::from(input))];
        self.run(inputs, cancel)
    }

    /// Runs the text tower on one row of token ids (already padded to the context length).
    pub fn embed_ids(&mut self, ids: &[i64], cancel: Option<CancelCheck>) -> Result<Vec<f32>> {
        let len = ids.len();
        let mut inputs = vec![(self.input_name.clone().into(), int_tensor(self.input_type, ids, len)?)];
        if let Some((name, ty)) = &self.mask_input {
            let mask: Vec<i64> = ids.iter().map(|&id| i64::from(id != 0)).collect();
            inputs.push((name.clone().into(), int_tensor(*ty, &mask, len)?));
        }
        self.run(inputs, cancel)
    }

    fn run(
        &mut self,
        inputs: Vec<(std::borrow::Cow<'static, str>, SessionInputValue<'static>)>,
        cancel: Option<CancelCheck>,
    ) -> Result<Vec<f32>> {
        // The terminate flag sticks to a RunOptions: a fresh one per run.
        let options = RunOptions::new().map_err(inference_error)?;
        let finished = &AtomicBool::new(false);
        let cancelled = &AtomicBool::new(false);
        let options = &options;
        let output_name = self.output_name.clone();
        let session = &mut self.session;
        let result = std::thread::scope(|scope| {
            let watchdog = cancel.map(|is_cancelled| {
                // Blocked signals here too: Postgres's handlers must run on the backend's thread.
                with_signals_blocked(|| {
                    scope.spawn(move || {
                        while !finished.load(Ordering::Acquire) {
                            if is_cancelled() {
                                cancelled.store(true, Ordering::Release);
                                let _ = options.terminate();
                                return;
                            }
                            std::thread::park_timeout(CANCEL_POLL);
                        }
                    })
                })
            });
            let outcome = session.run_with_options(inputs, options).and_then(|outputs| {
                let (_, values) = outputs[output_name.as_str()].try_extract_tensor::<f32>()?;
                Ok(values.to_vec())
            });
            finished.store(true, Ordering::Release);
            if let Some(handle) = watchdog {
                handle.thread().unpark();
                let _ = handle.join();
            }
            outcome
        });
        match result {
            Ok(values) => Ok(values),
            Err(_) if cancelled.load(Ordering::Acquire) => Err(Error::Cancelled),
            Err(e) => Err(inference_error(e)),
        }
    }
}

fn inference_error(e: ort::Error) -> Error {
    Error::Inference(e.to_string())
}

fn int_tensor(ty: TensorElementType, values: &[i64], len: usize) -> Result<SessionInputValue<'static>> {
    let value = if ty == TensorElementType::Int32 {
        let narrowed: Vec<i32> = values.iter().map(|&v| v as i32).collect();
        Tensor::from_array(Array2::from_shape_vec((1, len), narrowed).map_err(shape_error)?)
            .map_err(inference_error)?
            .into_dyn()
    } else {
        Tensor::from_array(Array2::from_shape_vec((1, len), values.to_vec()).map_err(shape_error)?)
            .map_err(inference_error)?
            .into_dyn()
    };
    Ok(SessionInputValue::from(value))
}

fn shape_error(e: ndarray::ShapeError) -> Error {
    Error::Inference(format!("token tensor of the wrong size: {e}"))
}

/// Runs `f` with every signal blocked in this thread, so threads it starts
/// (ORT's pools) inherit a full mask and Postgres's handlers only ever run on
/// the backend's own thread. The previous mask is restored afterwards.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset/pthread_sigmask only write the sigset_t values we own;
    // the old mask is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}
