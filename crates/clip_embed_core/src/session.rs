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
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ndarray::{Array2, Array4};
use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::cancel::{requested, CancelCheck};
use crate::error::{Error, Result};
use crate::layout::{Binding, Signature, Tensors};
use crate::worker::{held_for_a_worker, wait_for_abandoned_workers, with_signals_blocked, WorkerCount, CANCEL_POLL};

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

/// Which CLIP tower a graph is (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TowerKind {
    /// Pixels `[N,3,S,S]` to embeddings.
    Visual,
    /// Token ids `[N,L]` to embeddings.
    Textual,
}

/// One loaded tower: the session and the inputs and outputs its family bound.
pub struct Tower {
    session: Session,
    binding: Binding,
    /// Token slots of a text graph whose length follows its input (a rewritten
    /// copy, [`crate::text_length`]): ids are passed up to the end-of-text token.
    /// None: ids are passed padded to the graph's length.
    pub trimmed_context: Option<usize>,
    /// The embedding width, if the graph states it.
    pub output_dim: Option<usize>,
    /// Wall time the session took to create.
    pub load_time: Duration,
    /// The intra-op thread count the session was created with.
    pub threads: usize,
}

impl Tower {
    /// Creates a session for `path` and binds its inputs and outputs with the family's rule.
    /// A cancel during the load (ONNX Runtime's load cancellation) returns [`Error::Cancelled`].
    pub fn load(
        runtime: &Runtime,
        path: &Path,
        kind: TowerKind,
        bind: fn(&Signature) -> std::result::Result<Binding, String>,
        threads: usize,
        cancel: Option<CancelCheck>,
    ) -> Result<Tower> {
        let started = Instant::now();
        let session = create_session(runtime, path, threads, None, cancel)?;
        Tower::from_session(session, path, kind, bind, threads, started.elapsed())
    }

    /// A tower over a created session.
    pub fn from_session(
        session: Session,
        path: &Path,
        kind: TowerKind,
        bind: fn(&Signature) -> std::result::Result<Binding, String>,
        threads: usize,
        load_time: Duration,
    ) -> Result<Tower> {
        let binding = bind_session(&session, path, kind, bind)?;
        let output_dim = binding.output.1.get(1).and_then(|&d| usize::try_from(d).ok());
        Ok(Tower { session, binding, trimmed_context: None, output_dim, load_time, threads })
    }

    /// Whether a text graph's length axis is dynamic.
    pub fn has_dynamic_length(&self) -> bool {
        self.binding.input.2.get(1).is_some_and(|&d| d < 0)
    }

    /// The name and element type of the ids input (for a text tower).
    pub fn ids_input(&self) -> (&str, TensorElementType) {
        (&self.binding.input.0, self.binding.input.1)
    }

    /// The static side of a square pixel input (`S` of `[N,3,S,S]`), if the graph fixes it.
    pub fn image_size(&self) -> Option<u32> {
        self.binding.input.2.get(2).and_then(|&d| u32::try_from(d).ok())
    }

    /// The token count of a text input (`L` of `[N,L]`), if the graph fixes it
    /// or was rewritten from a graph that fixed it.
    pub fn context_length(&self) -> Option<usize> {
        self.binding.input.2.get(1).and_then(|&d| usize::try_from(d).ok()).or(self.trimmed_context)
    }

    /// Runs the visual tower on one `[3,S,S]` tensor.
    pub fn embed_pixels(&mut self, pixels: Vec<f32>, size: u32, cancel: Option<CancelCheck>) -> Result<Vec<f32>> {
        let s = size as usize;
        let shape_error = |e: ndarray::ShapeError| Error::Inference(format!("pixel tensor of the wrong size: {e}"));
        let input = if self.binding.input.1 == TensorElementType::Float16 {
            // transformers.js's _fp16 exports: the pixels rounded to nearest f16, as it (and numpy) casts them.
            let half: Vec<half::f16> = pixels.into_iter().map(half::f16::from_f32).collect();
            SessionInputValue::from(
                Tensor::from_array(Array4::from_shape_vec((1, 3, s, s), half).map_err(shape_error)?)
                    .map_err(inference_error)?,
            )
        } else {
            SessionInputValue::from(
                Tensor::from_array(Array4::from_shape_vec((1, 3, s, s), pixels).map_err(shape_error)?)
                    .map_err(inference_error)?,
            )
        };
        let inputs = vec![(self.binding.input.0.clone().into(), input)];
        self.run(inputs, cancel)
    }

    /// Runs the text tower on one row of token ids, padded to the context
    /// length, of which the first `real` are the text's (start to end of text).
    /// A tower with `trimmed_context` runs only the first `real` ids.
    pub fn embed_ids(&mut self, ids: &[i64], real: usize, cancel: Option<CancelCheck>) -> Result<Vec<f32>> {
        let ids = if self.trimmed_context.is_some() { &ids[..real.clamp(1, ids.len())] } else { ids };
        let len = ids.len();
        let mut inputs = vec![(self.binding.input.0.clone().into(), int_tensor(self.binding.input.1, ids, len)?)];
        if let Some((name, ty)) = &self.binding.mask {
            // By position, not by id: id 0 is a real token ('!') in CLIP's vocabulary.
            let mask: Vec<i64> = (0..len).map(|i| i64::from(i < real)).collect();
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
        let output_name = self.binding.output.0.clone();
        let half_output = self.binding.output_type == TensorElementType::Float16;
        let session = &mut self.session;
        let (result, cancelled) = with_watchdog(
            cancel,
            || {
                let _ = options.terminate();
            },
            || {
                session.run_with_options(inputs, &options).and_then(|outputs| {
                    let output = &outputs[output_name.as_str()];
                    if half_output {
                        let (_, values) = output.try_extract_tensor::<half::f16>()?;
                        Ok(values.iter().map(|v| v.to_f32()).collect())
                    } else {
                        let (_, values) = output.try_extract_tensor::<f32>()?;
                        Ok(values.to_vec())
                    }
                })
            },
        );
        match result {
            Ok(values) => Ok(values),
            Err(_) if cancelled => Err(Error::Cancelled),
            Err(e) => Err(inference_error(e)),
        }
    }
}

/// Binds a session's inputs and outputs with the family's rule; an error names `path`.
pub fn bind_session(
    session: &Session,
    path: &Path,
    kind: TowerKind,
    bind: fn(&Signature) -> std::result::Result<Binding, String>,
) -> Result<Binding> {
    let tensors = |values: &[ort::value::Outlet]| -> Tensors {
        values
            .iter()
            .filter_map(|o| match o.dtype() {
                ValueType::Tensor { ty, shape, .. } => Some((o.name().to_string(), *ty, shape.to_vec())),
                _ => None,
            })
            .collect()
    };
    let signature = Signature { inputs: tensors(session.inputs()), outputs: tensors(session.outputs()) };
    bind(&signature)
        .map_err(|why| Error::InvalidModel(format!("\"{}\" is not a CLIP {kind:?} tower: {why}", path.display())))
}

/// Creates a session for the graph at `path`. With `write_prepared`, ONNX
/// Runtime also writes its optimised graph there, every initializer of 1 KiB or
/// more (prepacked weights included) in `<file name>.data` beside it: a later
/// session on that graph maps the weights from the file instead of copying
/// them (ONNX Runtime 1.32; 1.31 still copies the prepacked ones).
pub fn create_session(
    runtime: &Runtime,
    path: &Path,
    threads: usize,
    write_prepared: Option<&Path>,
    cancel: Option<CancelCheck>,
) -> Result<Session> {
    // ORT's own open error says less: check existence and permissions first.
    std::fs::File::open(path).map_err(|e| crate::error::io_error("model file", path, e))?;
    commit(runtime, path, None, threads, write_prepared, cancel)
}

/// [`create_session`] for a graph held in memory (`bytes`), named `path` in messages.
pub fn create_session_from_bytes(
    runtime: &Runtime,
    bytes: Arc<[u8]>,
    path: &Path,
    write_prepared: Option<&Path>,
    cancel: Option<CancelCheck>,
) -> Result<Session> {
    commit(runtime, path, Some(bytes), 1, write_prepared, cancel)
}

/// How long a load may go on after ONNX Runtime was told to cancel it before
/// the backend stops waiting for it: ORT polls its load-cancel flag only
/// between phases (graph transforms, initializers). Measured on the ViT-B/16
/// shape (one instrumented run, not a benchmark), ORT stopped 15-126 ms after the flag in 9 of 14 cancels; the others
/// were writing a copy and would have run on for up to a second.
const LOAD_CANCEL_GRACE: Duration = Duration::from_millis(150);

/// What the load thread tells the backend's thread.
enum LoadEvent {
    /// The session options exist: the handle that cancels their commit.
    Started(ort::session::builder::LoadCanceler),
    /// The commit ended.
    Finished(ort::Result<Session>),
}

/// Creates the session on a thread of its own, started with every signal
/// blocked (ONNX Runtime's pool threads inherit that mask, so Postgres's
/// handlers only ever run on the backend's thread), while this thread keeps
/// its signals and polls `cancel` every [`CANCEL_POLL`]. Blocking signals on
/// the backend's own thread instead, as an earlier version did, held a
/// `statement_timeout` or `pg_terminate_backend` until the load ended (1.6 s
/// for a terminate sent 0.1 s into a ViT-B/16 preparation). A cancel sets ORT's
/// load-cancel flag; a load that has not stopped [`LOAD_CANCEL_GRACE`] later is
/// abandoned (its thread finishes alone and drops what it made).
fn commit(
    runtime: &Runtime,
    path: &Path,
    bytes: Option<Arc<[u8]>>,
    threads: usize,
    write_prepared: Option<&Path>,
    cancel: Option<CancelCheck>,
) -> Result<Session> {
    let ort_error = |e: ort::Error| Error::InvalidModel(format!("could not load \"{}\": {e}", path.display()));
    let environment = runtime.environment.clone();
    let (graph, out) = (path.to_path_buf(), write_prepared.map(Path::to_path_buf));
    let (events, received) = mpsc::channel();
    wait_for_abandoned_workers(cancel)?;
    let count = WorkerCount::start();
    let held = held_for_a_worker();
    let spawned = with_signals_blocked(|| {
        std::thread::Builder::new().name("clip_embed load".into()).spawn(move || {
            let (_count, _held) = (count, held);
            let built = (|| -> ort::Result<_> {
                let builder = Session::builder(&environment)?.with_intra_threads(threads)?.with_inter_threads(1)?;
                match &out {
                    None => Ok(builder),
                    Some(out) => {
                        let data = format!("{}.data", out.file_name().unwrap_or_default().to_string_lossy());
                        Ok(builder
                            .with_optimization_level(GraphOptimizationLevel::Level2)?
                            .with_optimized_model_path(out)?
                            .with_config_entry("session.optimized_model_external_initializers_file_name", data)?
                            .with_config_entry(
                                "session.optimized_model_external_initializers_min_size_in_bytes",
                                "1024",
                            )?
                            .with_config_entry("session.save_external_prepacked_constant_initializers", "1")?)
                    }
                }
            })();
            let mut builder = match built {
                Ok(builder) => builder,
                Err(e) => {
                    let _ = events.send(LoadEvent::Finished(Err(e)));
                    return;
                }
            };
            let _ = events.send(LoadEvent::Started(builder.canceler()));
            let session = match &bytes {
                Some(bytes) => builder.commit_from_memory(bytes),
                None => builder.commit_from_file(&graph),
            };
            // A backend that gave up on this load has dropped the receiver: the session is dropped here.
            let _ = events.send(LoadEvent::Finished(session));
        })
    });
    spawned.map_err(|e| Error::Inference(format!("could not start a thread to load \"{}\": {e}", path.display())))?;
    let mut canceler = None;
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match received.recv_timeout(CANCEL_POLL) {
            Ok(LoadEvent::Started(handle)) => canceler = Some(handle),
            Ok(LoadEvent::Finished(Ok(session))) if cancelled_at.is_none() => return Ok(session),
            Ok(LoadEvent::Finished(Ok(_))) => return Err(Error::Cancelled),
            Ok(LoadEvent::Finished(Err(_))) if cancelled_at.is_some() => return Err(Error::Cancelled),
            Ok(LoadEvent::Finished(Err(e))) => return Err(ort_error(e)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Inference(format!("the thread loading \"{}\" ended early", path.display())))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        match cancelled_at {
            None if requested(cancel) => cancelled_at = Some(Instant::now()),
            Some(at) if at.elapsed() >= LOAD_CANCEL_GRACE => return Err(Error::Cancelled),
            _ => {}
        }
        if cancelled_at.is_some() {
            if let Some(handle) = canceler.take() {
                let _ = handle.cancel();
            }
        }
    }
}

/// Runs `work` on this thread while a watchdog thread polls `cancel` every
/// [`CANCEL_POLL`] and calls `stop` once if it says so; returns what `work`
/// returned and whether `stop` was called.
fn with_watchdog<T>(cancel: Option<CancelCheck>, stop: impl Fn() + Sync, work: impl FnOnce() -> T) -> (T, bool) {
    let finished = &AtomicBool::new(false);
    let cancelled = &AtomicBool::new(false);
    let stop = &stop;
    let result = std::thread::scope(|scope| {
        let watchdog = cancel.map(|is_cancelled| {
            // Blocked signals here too: Postgres's handlers must run on the backend's thread.
            with_signals_blocked(|| {
                scope.spawn(move || {
                    while !finished.load(Ordering::Acquire) {
                        if is_cancelled() {
                            cancelled.store(true, Ordering::Release);
                            stop();
                            return;
                        }
                        std::thread::park_timeout(CANCEL_POLL);
                    }
                })
            })
        });
        /// Tells the watchdog to stop however `work` ends (a panic included).
        struct Finished<'a>(&'a AtomicBool);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let guard = Finished(finished);
        let outcome = work();
        drop(guard);
        if let Some(handle) = watchdog {
            handle.thread().unpark();
            let _ = handle.join();
        }
        outcome
    });
    (result, cancelled.load(Ordering::Acquire))
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
