//! The SQL surface. Each function converts its arguments, calls the core
//! through this backend's registry, and raises core errors with their SQLSTATE.
//!
//! The embedding functions are IMMUTABLE: that is what lets a generated column
//! or an expression index use them, and lets the planner fold
//! `clip_embed_text('a red bicycle')` to a constant so an `ORDER BY emb <=> ...`
//! can use an HNSW index. It is honest under one contract, stated in docs/models.md:
//! a model name always denotes the same weights; replacing them, or changing
//! `clip_embed.default_model`, means re-embedding.
//!
//! The flag is `normalized`, not `normalize`: NORMALIZE is an SQL keyword, and
//! `normalize => false` would be a syntax error in named-argument notation.
//!
//! COST is in units of `cpu_operator_cost`: an image embedding is ~10^6 of them
//! (tens to hundreds of ms), a text one ~10^5, so the planner applies every
//! cheap filter first.

use clip_embed_core::{math, Error, ModelInfo};
use pgrx::array::RawArray;
use pgrx::prelude::*;

use crate::backend::with_registry;
use crate::errors::raise;
use crate::{gucs, rows};

/// Unwraps a core result, raising its error as a Postgres ERROR. A cancelled
/// run first lets Postgres raise its own cancel error (the right message for
/// statement_timeout vs. pg_cancel_backend).
fn or_raise<T>(result: Result<T, Error>, function: &'static str) -> T {
    match result {
        Ok(value) => value,
        Err(Error::Cancelled) => {
            pg_sys::check_for_interrupts!();
            raise(Error::Cancelled, function)
        }
        Err(error) => raise(error, function),
    }
}

/// `clip_embed_text(input, model => '', normalized => true)`: the CLIP text embedding of `input`.
#[pg_extern(immutable, strict, parallel_safe, cost = 100000)]
fn clip_embed_text(input: &str, model: default!(&str, "''"), normalized: default!(bool, true)) -> Vec<f32> {
    let settings = gucs::settings();
    let model = gucs::model_name(model);
    or_raise(with_registry(|r| r.embed_text(&settings, &model, input, normalized)), "clip_embed_text")
}

/// `clip_embed_image(image, model => '', normalized => true)`: the CLIP image embedding of an encoded image.
#[pg_extern(immutable, strict, parallel_safe, cost = 1000000)]
fn clip_embed_image(image: &[u8], model: default!(&str, "''"), normalized: default!(bool, true)) -> Vec<f32> {
    let settings = gucs::settings();
    let model = gucs::model_name(model);
    or_raise(with_registry(|r| r.embed_image(&settings, &model, image, normalized)), "clip_embed_image")
}

/// `clip_similarity(a real[], b real[])`: cosine similarity, `1 - (a <=> b)` in
/// pgvector's terms: NaN if either is a zero vector; an error for NULL, NaN or
/// infinite elements, different lengths, and arrays of more than one dimension.
#[pg_extern(immutable, strict, parallel_safe, name = "clip_similarity")]
fn clip_similarity_vectors(a: Array<f32>, b: Array<f32>) -> f64 {
    let a = or_raise(vector_elements(a), "clip_similarity");
    let b = or_raise(vector_elements(b), "clip_similarity");
    or_raise(math::cosine_similarity(&a, &b), "clip_similarity")
}

/// `clip_similarity(image bytea, text text, model => '')`: how well `text` describes `image`
/// (the cosine of their embeddings), the "compare" of CLIP's Python APIs.
#[pg_extern(immutable, strict, parallel_safe, cost = 1100000, name = "clip_similarity")]
fn clip_similarity_image_text(image: &[u8], text: &str, model: default!(&str, "''")) -> f64 {
    let settings = gucs::settings();
    let model = gucs::model_name(model);
    let result = with_registry(|r| {
        let image_embedding = r.embed_image(&settings, &model, image, true)?;
        let text_embedding = r.embed_text(&settings, &model, text, true)?;
        math::cosine_similarity(&image_embedding, &text_embedding)
    });
    or_raise(result, "clip_similarity")
}

/// `clip_classify(image, labels, model => '', template => '{}')`: CLIP zero-shot
/// classification, the "compare" of CLIP's Python APIs taken to its end: one row
/// per label, best first, with its softmax probability (the model's logit scale,
/// 100 where its folder states none) and its cosine similarity.
#[pg_extern(immutable, strict, parallel_safe, cost = 2000000, name = "clip_classify")]
#[allow(clippy::type_complexity)]
fn clip_classify_image(
    image: &[u8],
    labels: Vec<Option<String>>,
    model: default!(&str, "''"),
    template: default!(&str, "'{}'"),
) -> TableIterator<'static, (name!(label, String), name!(probability, f64), name!(similarity, f64))> {
    let settings = gucs::settings();
    let model = gucs::model_name(model);
    let labels = or_raise(no_null_labels(labels), "clip_classify");
    let rows =
        or_raise(with_registry(|r| r.classify_image(&settings, &model, image, &labels, template)), "clip_classify");
    TableIterator::new(rows)
}

/// `clip_classify(embedding real[], labels, model => '', template => '{}')`: the
/// same for a stored image embedding (of the same model).
#[pg_extern(immutable, strict, parallel_safe, cost = 1000000, name = "clip_classify")]
#[allow(clippy::type_complexity)]
fn clip_classify_embedding(
    embedding: Array<f32>,
    labels: Vec<Option<String>>,
    model: default!(&str, "''"),
    template: default!(&str, "'{}'"),
) -> TableIterator<'static, (name!(label, String), name!(probability, f64), name!(similarity, f64))> {
    let settings = gucs::settings();
    let model = gucs::model_name(model);
    let embedding = or_raise(vector_elements(embedding), "clip_classify");
    let labels = or_raise(no_null_labels(labels), "clip_classify");
    let rows = or_raise(
        with_registry(|r| r.classify_embedding(&settings, &model, &embedding, &labels, template)),
        "clip_classify",
    );
    TableIterator::new(rows)
}

fn no_null_labels(labels: Vec<Option<String>>) -> Result<Vec<String>, Error> {
    labels.into_iter().map(|l| l.ok_or(Error::NullValue)).collect()
}

/// `clip_models()`: the installed models, and what this backend has loaded.
#[pg_extern(volatile, parallel_safe)]
#[allow(clippy::type_complexity)]
fn clip_models() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(embedding_dim, Option<i32>),
        name!(image_size, Option<i32>),
        name!(context_length, Option<i32>),
        name!(fingerprint, String),
        name!(text_loaded, bool),
        name!(image_loaded, bool),
        name!(text_load_ms, Option<f64>),
        name!(image_load_ms, Option<f64>),
        name!(is_default, bool),
        name!(description, Option<String>),
        name!(path, String),
    ),
> {
    let settings = gucs::settings();
    let default_model = gucs::model_name("");
    let models: Vec<ModelInfo> = or_raise(with_registry(|r| r.list_models(&settings)), "clip_models");
    TableIterator::new(models.into_iter().map(move |m| rows::model(m, &default_model)))
}

/// `clip_model_layouts()`: for each installed model, the family its folder
/// was recognised as, the variant, the files of each part, and the recipes the
/// core applies (image resize, text cleanup and padding, zero-shot scoring and
/// where its scale and bias come from). A folder that cannot be used has a row
/// with its `problem`.
#[pg_extern(volatile, parallel_safe)]
#[allow(clippy::type_complexity)]
fn clip_model_layouts() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(family, String),
        name!(variant, String),
        name!(visual_file, Option<String>),
        name!(textual_file, Option<String>),
        name!(tokenizer_file, Option<String>),
        name!(image_recipe, Option<String>),
        name!(image_mean, Option<Vec<f32>>),
        name!(image_std, Option<Vec<f32>>),
        name!(context_length, Option<i32>),
        name!(pad_token, Option<String>),
        name!(text_cleanup, Option<String>),
        name!(text_padded, Option<bool>),
        name!(outputs_normalized, Option<bool>),
        name!(scoring, Option<String>),
        name!(logit_scale, Option<f64>),
        name!(logit_bias, Option<f64>),
        name!(logit_source, Option<String>),
        name!(problem, Option<String>),
    ),
> {
    let settings = gucs::settings();
    let models: Vec<ModelInfo> = or_raise(with_registry(|r| r.list_models(&settings)), "clip_model_layouts");
    TableIterator::new(models.into_iter().map(rows::model_layout))
}

/// `clip_prepared_models()`: the prepared copies of towers under
/// `clip_embed.prepared_dir`, their state (`current`, `stale`, `preparing`,
/// `abandoned`, `incomplete`), size, and whether this backend loaded them.
#[pg_extern(volatile, parallel_safe)]
#[allow(clippy::type_complexity)]
fn clip_prepared_models() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(model, Option<String>),
        name!(tower, Option<String>),
        name!(state, String),
        name!(size_bytes, i64),
        name!(created, Option<TimestampWithTimeZone>),
        name!(prepare_ms, Option<f64>),
        name!(loaded_here, bool),
        name!(path, String),
    ),
> {
    let settings = gucs::settings();
    let copies = or_raise(with_registry(|r| r.list_prepared(&settings)), "clip_prepared_models");
    TableIterator::new(copies.into_iter().map(rows::prepared_copy))
}

/// `clip_prepared_remove(name => NULL)`: removes the prepared copy `name`, or
/// with NULL every copy that no installed model loads now (stale, incomplete,
/// abandoned); returns what it removed. Superuser only: it deletes server
/// files. A backend that mapped a removed copy keeps it until it exits.
#[pg_extern(volatile, parallel_unsafe)]
fn clip_prepared_remove(
    name: default!(Option<&str>, "NULL"),
) -> TableIterator<'static, (name!(removed, String), name!(size_bytes, i64))> {
    // SAFETY: superuser() reads the current user's role in the backend's thread.
    if !unsafe { pg_sys::superuser() } {
        pgrx::ereport!(
            PgLogLevel::ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "must be superuser to remove prepared copies"
        );
    }
    let settings = gucs::settings();
    let removed = or_raise(with_registry(|r| r.remove_prepared(&settings, name)), "clip_prepared_remove");
    TableIterator::new(removed.into_iter().map(|(name, bytes)| (name, i64::try_from(bytes).unwrap_or(i64::MAX))))
}

/// The elements of a one-dimensional `real[]` without NULLs, as pgvector's
/// array-to-vector cast takes it. pgrx's `Vec<f32>` argument would flatten a
/// 2-D array silently (`'{{1,2},{3,4}}'` read as `{1,2,3,4}`).
fn vector_elements(array: Array<f32>) -> Result<Vec<f32>, Error> {
    // SAFETY: `array` is a valid, detoasted float4[] that pgrx unboxed for this call.
    let Some(mut raw) = (unsafe { RawArray::from_array(array) }) else {
        return Err(Error::InvalidArgument("vector must have at least 1 dimension".into()));
    };
    if raw.dims().len() > 1 {
        return Err(Error::InvalidVector("array must be 1-D"));
    }
    if raw.len() == 0 {
        return Ok(Vec::new()); // the similarity reports the missing dimension
    }
    // SAFETY: `raw` is the live array above; any_nulls reads its null bitmap.
    if unsafe { raw.any_nulls() } {
        return Err(Error::NullValue);
    }
    // SAFETY: a float4[] without NULLs stores its elements as a packed f32 slice.
    Ok(unsafe { raw.data::<f32>().as_ref() }.to_vec())
}
