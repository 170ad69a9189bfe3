//! A loaded tower: a session and its family's binding, run cancellably.
//! `Session::run` ignores `statement_timeout`, so a watchdog thread polls a
//! cancel check every 5 ms and terminates the run (measured: a 300 ms timeout
//! fired after 3013 ms without it, 453 ms with it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ndarray::{Array2, Array4};
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType};

use super::runtime::Runtime;
use super::session::{bind_session, create_session, TowerKind};
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::layout::{BindFn, Binding};
use crate::worker::{with_signals_blocked, CANCEL_POLL};

/// One loaded tower: the session and the inputs and outputs its family bound.
pub struct Tower {
    session: Session,
    binding: Binding,
    /// Token slots of a text graph whose length follows its input (a rewritten
    /// copy, [`crate::prepared`]'s text length rewrite): ids are passed up to the end-of-text token.
    /// None: ids are passed padded to the graph's length.
    pub trimmed_context: Option<usize>,
    /// The embedding width, if the graph states it.
    pub output_dim: Option<usize>,
    /// Wall time the session took to create.
    pub load_time: Duration,
    /// The intra-op thread count the session was created with.
    pub threads: usize,
    /// Whether the session has ONNX Runtime's CPU arena (which keeps a run's
    /// activations); without it they are freed to malloc after each run.
    pub cpu_arena: bool,
}

impl Tower {
    /// Creates a session for `path` (with ONNX Runtime's CPU arena if
    /// `cpu_arena`) and binds its inputs and outputs with the family's rule.
    /// A cancel during the load (ONNX Runtime's load cancellation) returns [`Error::Cancelled`].
    pub fn load(
        runtime: &Runtime,
        path: &Path,
        kind: TowerKind,
        bind: BindFn,
        threads: usize,
        cpu_arena: bool,
        cancel: Option<CancelCheck>,
    ) -> Result<Tower> {
        let started = Instant::now();
        let session = create_session(runtime, path, threads, cpu_arena, None, cancel)?;
        Tower::from_session(session, path, kind, bind, threads, cpu_arena, started.elapsed())
    }

    /// A tower over a created session, made with `threads` and `cpu_arena`.
    pub fn from_session(
        session: Session,
        path: &Path,
        kind: TowerKind,
        bind: BindFn,
        threads: usize,
        cpu_arena: bool,
        load_time: Duration,
    ) -> Result<Tower> {
        let binding = bind_session(&session, path, kind, bind)?;
        let output_dim = binding.output.1.get(1).and_then(|&d| usize::try_from(d).ok());
        Ok(Tower { session, binding, trimmed_context: None, output_dim, load_time, threads, cpu_arena })
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
