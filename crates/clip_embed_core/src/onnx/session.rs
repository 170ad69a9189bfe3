//! Creating ONNX Runtime sessions, cancellably: on a load thread started with
//! every signal blocked while the backend's thread polls its cancel, and
//! optionally writing the optimised graph (a prepared copy) as it loads.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::ValueType;

use super::runtime::Runtime;
use crate::cancel::{requested, CancelCheck};
use crate::error::{Error, Result};
use crate::layout::{BindFn, Binding, Signature, Tensors};
use crate::worker::{held_for_a_worker, wait_for_abandoned_workers, with_signals_blocked, WorkerCount, CANCEL_POLL};

/// Which CLIP tower a graph is (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TowerKind {
    /// Pixels `[N,3,S,S]` to embeddings.
    Visual,
    /// Token ids `[N,L]` to embeddings.
    Textual,
}

/// Binds a session's inputs and outputs with the family's rule; an error names `path`.
pub fn bind_session(session: &Session, path: &Path, kind: TowerKind, bind: BindFn) -> Result<Binding> {
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
///
/// Without `cpu_arena` (the default, `clip_embed.onnx_cpu_arena`) the session
/// has no ONNX Runtime CPU arena. The arena keeps the largest set of
/// activations a run ever needed for the life of the backend (15-17 MB for a
/// ViT-B/16 image, more than the rest of the session's private memory);
/// without it a run's blocks go back to malloc, and the registry hands freed
/// pages back to the system when the transaction ends. Measured on the ViT-B/16 shape in
/// one process, alternating runs: the same vectors bit for bit, run time 0.99x
/// (image) and 1.02x (text) of the arena's, within the machine's noise.
pub fn create_session(
    runtime: &Runtime,
    path: &Path,
    threads: usize,
    cpu_arena: bool,
    write_prepared: Option<&Path>,
    cancel: Option<CancelCheck>,
) -> Result<Session> {
    // ORT's own open error says less: check existence and permissions first.
    std::fs::File::open(path).map_err(|e| crate::error::io_error("model file", path, e))?;
    commit(runtime, path, None, threads, cpu_arena, write_prepared, cancel)
}

/// [`create_session`] for a graph held in memory (`bytes`), named `path` in messages.
pub fn create_session_from_bytes(
    runtime: &Runtime,
    bytes: Arc<[u8]>,
    path: &Path,
    write_prepared: Option<&Path>,
    cancel: Option<CancelCheck>,
) -> Result<Session> {
    commit(runtime, path, Some(bytes), 1, false, write_prepared, cancel)
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
    cpu_arena: bool,
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
                let builder = Session::builder(&environment)?
                    .with_intra_threads(threads)?
                    .with_inter_threads(1)?
                    .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(cpu_arena).build()])?;
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
