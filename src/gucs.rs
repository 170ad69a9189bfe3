//! Every `clip_embed.*` setting, with a typed accessor each, so the rest of the
//! crate never touches a `GucSetting`.
//!
//! Paths and limits are superuser-only (`SUSET`): a path chooses which code and
//! weights the server runs, and a limit protects the server's memory. The thread
//! count is per-user, since it trades this session's latency for CPU, but only
//! up to `clip_embed.max_intra_op_threads`, which a superuser sets: 64 threads
//! in each of `max_connections` backends would reach the machine's thread limit.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use clip_embed_core::{ImageLimits, Settings};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};

/// Folder with one sub-folder per model. `$sharedir` expands to
/// `pg_config --sharedir`.
static MODEL_DIR: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"$sharedir/clip_embed/models"));

/// Absolute path of ONNX Runtime's shared library (1.31 or newer). `$libdir`
/// expands to `pg_config --pkglibdir`. Read once per backend, at the first embedding.
static ONNXRUNTIME_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"$libdir/clip_embed/libonnxruntime.so"));

/// The model the functions use when their `model` argument is `''`. `clip-shapes`,
/// the small CLIP this project trains on synthetic shapes (98% colour+shape
/// zero-shot on held-out images; it knows nothing else), ships with the
/// extension so search means something out of the box; a real CLIP export
/// replaces it by name.
static DEFAULT_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"clip-shapes"));

/// ORT intra-op threads per session. 1 by default: every backend would add
/// its own, and a ViT-B/16 image gains 1.81x from 2 threads on 2 cores only
/// while the other core is idle. Capped by [`MAX_INTRA_OP_THREADS`].
static INTRA_OP_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);

/// The most intra-op threads any session's setting takes effect with
/// (superuser-only): a larger `clip_embed.intra_op_threads` is used as this.
/// 4 by default: a backend then runs at most 4 ORT threads, the watchdog and a
/// load thread while a tower loads.
static MAX_INTRA_OP_THREADS: GucSetting<i32> = GucSetting::<i32>::new(4);

/// Whether towers keep ONNX Runtime's CPU arena. Off: the arena holds a run's
/// activations for the backend's life (15-17 MB for a ViT-B/16 image) and ran no
/// faster here (bench/preload.py prints both).
static ONNX_CPU_ARENA: GucSetting<bool> = GucSetting::<bool>::new(false);

/// Entries of each backend's text-embedding cache (an LRU keyed by the loaded
/// text tower and the exact text; texts over 4 KiB are not cached). 1,024 by
/// default: ~2-6 MB per backend with 512-dim models; a hit skips the tower run
/// (2.3 ms on clip-shapes, ~48 ms on a ViT-B/16 text tower). 0 turns it off.
/// Superuser-only, since it sizes every backend's memory.
static TEXT_CACHE_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// Where prepared copies of towers go (see `clip_embed_core::prepared`): a
/// relative path is under the data directory. `pgsql_tmp_clip_embed` because
/// `pg_basebackup` skips every `pgsql_tmp*` name: copies are derived and
/// CPU-specific, so a standby prepares its own. Empty turns preparing off
/// (each backend then loads and copies the original graphs: 621 MB private
/// and 0.82 s of first-call overhead per backend for a ViT-B/16, against 48 MB
/// and 0.24 s from prepared copies; docs/performance.md, bench/prepared.py).
static PREPARED_DIR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"pgsql_tmp_clip_embed"));

/// Models whose tokenizer the postmaster parses before it forks
/// (comma-separated names; empty, the default, preloads nothing). Only with
/// `shared_preload_libraries = 'clip_embed'`, and only read at server start.
/// Every backend then starts with the parsed tokenizer (and ONNX Runtime's
/// library mapped), shared copy-on-write: on a torch-exported ViT-B/16 a second
/// backend's private memory went from 33.2 to 16.0 MB (bench/preload.py,
/// docs/performance.md; the first call's overhead within noise).
/// ONNX sessions are not preloaded (docs/performance.md says why). A model that
/// fails to preload is a WARNING in the server log and loads lazily, as
/// without the setting.
static PRELOAD_MODELS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Largest encoded image accepted (bytes). 50 MB by default.
static MAX_IMAGE_BYTES: GucSetting<i32> = GucSetting::<i32>::new(ImageLimits::DEFAULT.max_bytes as i32);

/// Largest decoded image accepted (pixels). PIL's `MAX_IMAGE_PIXELS` by
/// default (89,478,485): a 4-channel image that size is ~358 MB decoded.
static MAX_IMAGE_PIXELS: GucSetting<i32> = GucSetting::<i32>::new(ImageLimits::DEFAULT.max_pixels as i32);

/// Registers the settings; called once from `_PG_init`.
pub fn init() {
    GucRegistry::define_string_guc(
        c"clip_embed.model_dir",
        c"Directory holding one folder per CLIP model.",
        c"Each folder holds a model in a layout clip_embed recognises (OpenAI's visual.onnx/textual.onnx, Hugging Face's onnx/, Immich's visual/ and textual/); SELECT * FROM clip_model_layouts() lists them. $sharedir expands to the server's share directory.",
        &MODEL_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"clip_embed.onnxruntime_path",
        c"Absolute path of the ONNX Runtime shared library.",
        c"Loaded once per backend at the first embedding; $libdir expands to the server's package library directory.",
        &ONNXRUNTIME_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"clip_embed.default_model",
        c"Model used when a function's model argument is empty.",
        c"Changing it changes what the one-argument forms return: re-embed stored vectors.",
        &DEFAULT_MODEL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip_embed.intra_op_threads",
        c"ONNX Runtime intra-op threads per model session.",
        c"Takes effect when a tower next loads; a change reloads towers of this backend. Values over clip_embed.max_intra_op_threads are used as that maximum.",
        &INTRA_OP_THREADS,
        1,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"clip_embed.onnx_cpu_arena",
        c"Whether model sessions keep ONNX Runtime's CPU memory arena.",
        c"A change reloads this backend's towers. Off (the default), a run's activations are handed back when the transaction ends.",
        &ONNX_CPU_ARENA,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip_embed.max_intra_op_threads",
        c"The most ONNX Runtime intra-op threads a session's clip_embed.intra_op_threads takes effect with.",
        c"Superuser-only: bounds the threads any role can make a backend start.",
        &MAX_INTRA_OP_THREADS,
        1,
        64,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip_embed.text_cache_entries",
        c"Entries of each backend's text-embedding cache; 0 turns it off.",
        c"An LRU keyed by the loaded text tower and the exact text; texts over 4 KiB are not cached.",
        &TEXT_CACHE_ENTRIES,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"clip_embed.prepared_dir",
        c"Directory of prepared model copies that every backend maps; empty turns preparing off.",
        c"A relative path is under the data directory. Copies are keyed by the model's content, the ONNX Runtime build and the CPU; SELECT * FROM clip_prepared_models() lists them.",
        &PREPARED_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"clip_embed.preload_models",
        c"Models the postmaster loads before it forks, so every backend starts with them (comma-separated).",
        c"Needs shared_preload_libraries = 'clip_embed'; read at server start. A model that fails to preload is logged as a WARNING and loads in each backend at first use.",
        &PRELOAD_MODELS,
        preload_context(),
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip_embed.max_image_bytes",
        c"Largest encoded image clip_embed_image accepts.",
        c"",
        &MAX_IMAGE_BYTES,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"clip_embed.max_image_pixels",
        c"Largest decoded image (width x height) clip_embed_image accepts.",
        c"Stops decompression bombs before they allocate; also bounds the resized intermediate.",
        &MAX_IMAGE_PIXELS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: called from _PG_init in the backend's thread, with a static C string.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"clip_embed".as_ptr()) };
}

/// The model to use for a `model` argument: itself, or `clip_embed.default_model` when empty.
pub fn model_name(argument: &str) -> String {
    if argument.is_empty() {
        string_setting(&DEFAULT_MODEL).unwrap_or_default()
    } else {
        argument.to_string()
    }
}

/// `clip_embed.preload_models` is read at server start, so it is a
/// `postmaster` setting where the library is in `shared_preload_libraries`.
/// Postgres refuses to define such a setting after start-up ("cannot create
/// PGC_POSTMASTER variables after startup", which would fail the first call of
/// every backend that loads the library itself), so there it is `sighup`:
/// still only for the configuration file, and without effect.
fn preload_context() -> GucContext {
    // SAFETY: a plain read of a flag the server sets while it loads shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        GucContext::Postmaster
    } else {
        GucContext::Sighup
    }
}

/// `clip_embed.preload_models`: the names it lists, in order, without blanks
/// or repeats.
pub fn preload_models() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in string_setting(&PRELOAD_MODELS).unwrap_or_default().split(',').map(str::trim) {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The core's view of the settings for one call.
pub fn settings() -> Settings {
    Settings {
        model_dir: expand_path(&string_setting(&MODEL_DIR).unwrap_or_default()),
        onnxruntime_path: expand_path(&string_setting(&ONNXRUNTIME_PATH).unwrap_or_default()),
        intra_op_threads: INTRA_OP_THREADS.get().clamp(1, MAX_INTRA_OP_THREADS.get().max(1)) as usize,
        onnx_cpu_arena: ONNX_CPU_ARENA.get(),
        limits: ImageLimits {
            max_bytes: MAX_IMAGE_BYTES.get().max(1) as usize,
            max_pixels: MAX_IMAGE_PIXELS.get().max(1) as u64,
        },
        cancel: Some(crate::backend::interrupt_pending),
        text_cache_entries: TEXT_CACHE_ENTRIES.get().max(0) as usize,
        prepared_dir: prepared_dir(),
        warn: Some(warn),
        log: Some(log),
    }
}

/// `clip_embed.prepared_dir`, absolute: relative paths are under the data directory.
fn prepared_dir() -> Option<PathBuf> {
    let value = string_setting(&PREPARED_DIR).unwrap_or_default();
    if value.trim().is_empty() {
        return None;
    }
    let path = expand_path(&value);
    if path.is_absolute() {
        return Some(path);
    }
    // SAFETY: DataDir is the server's NUL-terminated data directory, set before any backend runs.
    let data_dir = unsafe { CStr::from_ptr(pg_sys::DataDir) };
    Some(PathBuf::from(data_dir.to_string_lossy().into_owned()).join(path))
}

/// Writes a core message to the server log only.
fn log(message: &str) {
    pgrx::log!("{message}");
}

/// Reports a core warning to the client and the log; the query goes on.
fn warn(message: &str) {
    pgrx::warning!("{message}");
}

fn string_setting(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|value| value.to_string_lossy().into_owned())
}

/// Expands a leading `$libdir` or `$sharedir`, as `dynamic_library_path` does `$libdir`.
fn expand_path(value: &str) -> PathBuf {
    if let Some(rest) = value.strip_prefix("$libdir") {
        // SAFETY: pkglib_path is a NUL-terminated buffer the server fills at start-up.
        let libdir = unsafe { CStr::from_ptr(std::ptr::addr_of!(pg_sys::pkglib_path).cast()) };
        return PathBuf::from(format!("{}{rest}", libdir.to_string_lossy()));
    }
    if let Some(rest) = value.strip_prefix("$sharedir") {
        let mut buffer = [0 as std::ffi::c_char; pg_sys::MAXPGPATH as usize];
        // SAFETY: get_share_path writes at most MAXPGPATH bytes, NUL-terminated,
        // into our buffer; my_exec_path is the server's own NUL-terminated path.
        let share = unsafe {
            pg_sys::get_share_path(std::ptr::addr_of!(pg_sys::my_exec_path).cast(), buffer.as_mut_ptr());
            CStr::from_ptr(buffer.as_ptr())
        };
        return PathBuf::from(format!("{}{rest}", share.to_string_lossy()));
    }
    PathBuf::from(value)
}
