//! Embedding an existing table in bulk: `CALL clip_embed_backfill(...)`.
//!
//! A generated column embeds rows as they are written; a table that already
//! holds images needs a backfill. One `UPDATE` over the table would run in one
//! transaction on one core with no progress, and an interruption would lose
//! everything. The procedure works in committed batches instead:
//! * each batch takes rows whose embedding is NULL with `FOR UPDATE SKIP
//!   LOCKED`, embeds them and commits, so a re-run (or a second session running
//!   the same CALL) never redoes a finished row and never waits on another's;
//! * a NOTICE after each batch reports rows done of the rows to do at the
//!   start, its DETAIL the rate and the time so far;
//! * `threads` raises this session's ONNX Runtime intra-op threads (restored at
//!   the end); several sessions running the same CALL use more cores too.
//!
//! Measured (bench/bulk.sh, ViT-B/16 shape, 2 cores): see docs/performance.md, "Bulk embedding".

// The install script's own definition; the 0.1.0 -> 0.2.0 upgrade script is
// derived from the install script (tools/upgrade_script.py), so this is the
// only place the procedure is written.
pgrx::extension_sql_file!(
    "../sql/backfill.sql",
    name = "clip_embed_backfill",
    // After every function: the procedure calls clip_embed_image.
    finalize,
);
