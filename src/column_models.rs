//! `clip_column_models(tbl, source_column, embedding_column, sample_rows)`:
//! which installed model made a column's vectors.
//!
//! A column or expression index must hold one model's vectors, and nothing in
//! a `vector(512)` says whose they are: a generated column over the
//! one-argument form follows `clip_embed.default_model`, and two models of one
//! width mix without an error. This function makes a mixed column visible: it
//! re-embeds a random sample of rows with every installed model of the
//! column's width and counts the rows each model made (cosine >= 0.999;
//! another model's vector scores far below). `clip_embed_backfill` runs the
//! same test on one row before it adds vectors, and warns.
//!
//! Written in PL/pgSQL: it only composes the SQL functions. Cost: one read of
//! the table (`ORDER BY random()`) and `sample_rows` (<= 10,000) embeddings per
//! candidate model, each cancellable.

pgrx::extension_sql_file!(
    "../sql/column_models.sql",
    name = "clip_column_models",
    // Paths as pgrx matches them: the last segment and the end of the module path.
    requires = [api::clip_embed_image, api::clip_embed_text, api::clip_models, api::clip_similarity_vectors,],
);
