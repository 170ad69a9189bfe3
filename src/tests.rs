//! `#[pg_test]`s for the SQL boundary: argument handling, errors, settings.
//! The cluster's model directory is the test one (see `pg_test` in lib.rs).
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[pg_test]
    fn embed_text_returns_unit_vector_of_model_width() {
        let v = Spi::get_one::<Vec<f32>>("SELECT clip_embed_text('a photo of a cat')").unwrap().unwrap();
        assert_eq!(v.len(), 512);
        assert!((norm(&v) - 1.0).abs() < 1e-5, "{}", norm(&v));
    }

    #[pg_test]
    fn named_arguments_select_model_and_normalisation() {
        let raw =
            Spi::get_one::<Vec<f32>>("SELECT clip_embed_text('a cat', model => 'tiny-random', normalized => false)")
                .unwrap()
                .unwrap();
        assert!((norm(&raw) - 1.0).abs() > 1e-3, "raw output is not unit length");
        let unit = Spi::get_one::<Vec<f32>>("SELECT clip_embed_text('a cat', 'tiny-random')").unwrap().unwrap();
        let scaled: Vec<f32> = raw.iter().map(|x| x / norm(&raw)).collect();
        for (a, b) in unit.iter().zip(&scaled) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[pg_test]
    fn similarity_of_vectors_follows_pgvector_conventions() {
        let s = Spi::get_one::<f64>("SELECT clip_similarity(ARRAY[3,4]::real[], ARRAY[6,8]::real[])").unwrap().unwrap();
        assert!((s - 1.0).abs() < 1e-12);
        let nan =
            Spi::get_one::<f64>("SELECT clip_similarity(ARRAY[0,0]::real[], ARRAY[6,8]::real[])").unwrap().unwrap();
        assert!(nan.is_nan());
    }

    #[pg_test(error = "model \"no-such-model\" does not exist")]
    fn unknown_model_is_an_error() {
        Spi::run("SELECT clip_embed_text('x', 'no-such-model')").unwrap();
    }

    #[pg_test(error = "different vector dimensions 2 and 1")]
    fn mismatched_arrays_are_an_error() {
        Spi::run("SELECT clip_similarity(ARRAY[1,2]::real[], ARRAY[1]::real[])").unwrap();
    }

    #[pg_test(error = "image is empty")]
    fn empty_image_is_an_error() {
        Spi::run("SELECT clip_embed_image(''::bytea)").unwrap();
    }

    #[pg_test]
    fn error_inside_a_subtransaction_leaves_the_backend_usable() {
        // The registry's RefCell must not stay borrowed after an ERROR unwinds.
        Spi::run(
            "DO $$ BEGIN PERFORM clip_embed_image('\\x00'::bytea); EXCEPTION WHEN invalid_binary_representation THEN NULL; END $$",
        )
        .unwrap();
        let v = Spi::get_one::<Vec<f32>>("SELECT clip_embed_text('still works')").unwrap().unwrap();
        assert_eq!(v.len(), 512);
    }

    #[pg_test]
    fn models_lists_what_this_backend_loaded() {
        Spi::run("SELECT clip_embed_text('load the text tower of the default model')").unwrap();
        let loaded = Spi::get_two::<bool, bool>(
            "SELECT text_loaded, image_loaded FROM clip_models() WHERE name = 'clip-shapes'",
        )
        .unwrap();
        assert_eq!(loaded, (Some(true), Some(false)));
    }
}
