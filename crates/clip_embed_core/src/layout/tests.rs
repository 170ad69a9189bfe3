//! Recognition and description of each family's folder, on folders written
//! here (configs in their real formats; the graphs are empty files, which
//! describing never opens).

use std::path::{Path, PathBuf};

use super::*;
use crate::recipe::*;

struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = std::env::temp_dir().join(format!("clip_embed_layout_{}_{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Folder(dir)
    }

    fn file(&self, path: &str, text: &str) -> &Folder {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn describe(&self, variant: &str) -> Result<Layout> {
        let family = family_of(&self.0)?.expect("recognised");
        (family.describe)(&self.0, Path::new("/nonexistent"), variant)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CLIP_PREPROCESSOR: &str = r#"{"crop_size": {"height": 224, "width": 224}, "do_center_crop": true,
  "do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
  "size": {"shortest_edge": 224}}"#;

fn hf_folder(name: &str, config: &str, preprocessor: &str) -> Folder {
    let folder = Folder::new(name);
    folder
        .file("config.json", config)
        .file("preprocessor_config.json", preprocessor)
        .file("tokenizer.json", "{}")
        .file("tokenizer_config.json", r#"{"pad_token": {"content": "</s>", "special": true}}"#)
        .file("onnx/vision_model.onnx", "")
        .file("onnx/text_model.onnx", "")
        .file("onnx/vision_model_quantized.onnx", "")
        .file("onnx/text_model_fp16.onnx", "");
    folder
}

#[test]
fn hf_clip_reads_transformers_configs_and_lists_variants() {
    let folder = hf_folder("hf", r#"{"model_type": "clip", "projection_dim": 768}"#, CLIP_PREPROCESSOR);
    let family = family_of(&folder.0).unwrap().unwrap();
    assert_eq!(family.name, "hf-clip");
    assert_eq!((family.variants)(&folder.0), ["", "fp16", "quantized"]);
    let layout = folder.describe("quantized").unwrap();
    assert!(layout.visual.ends_with("onnx/vision_model_quantized.onnx"));
    assert_eq!(layout.embed_dim, Some(768));
    assert_eq!(layout.text.pad, PadToken::Named("</s>".into()));
    assert_eq!(layout.text.cleanup, TextCleanup::TokenizerOnly);
    assert_eq!(layout.image.resize, Resize::ShortestThenCrop { shortest: Some(224), rounding: Rounding::Transformers });
    assert_eq!(layout.logits.scoring, Scoring::Softmax);
}

#[test]
fn hf_clip_reads_the_older_plain_number_sizes_as_transformers_does() {
    // openai/clip-vit-base-patch32's own preprocessor_config.json: CLIPImageProcessor
    // reads "size": 224 as the shortest edge, then centre-crops 224 (transformers
    // 4.57.1: CLIPImageProcessor(size=224).size == {"shortest_edge": 224}).
    let preprocessor = r#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
      "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
      "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}"#;
    let folder = hf_folder("hf-old", r#"{"model_type": "clip"}"#, preprocessor);
    let layout = folder.describe("").unwrap();
    assert_eq!(layout.image.size, Some(224));
    assert_eq!(layout.image.resize, Resize::ShortestThenCrop { shortest: Some(224), rounding: Rounding::Transformers });
    // do_center_crop is CLIPImageProcessor's default: a file that leaves it out still crops.
    let folder = hf_folder("hf-old-default-crop", r#"{"model_type": "clip"}"#, r#"{"size": 256, "crop_size": 224}"#);
    let layout = folder.describe("").unwrap();
    assert_eq!(
        (layout.image.size, layout.image.resize),
        (Some(224), Resize::ShortestThenCrop { shortest: Some(256), rounding: Rounding::Transformers })
    );
}

#[test]
fn hf_siglip_is_told_apart_by_model_type() {
    let preprocessor = r#"{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2,
      "size": {"height": 256, "width": 256}}"#;
    let folder = hf_folder("siglip", r#"{"model_type": "siglip"}"#, preprocessor);
    let layout = folder.describe("").unwrap();
    assert_eq!(layout.family, "hf-siglip");
    assert_eq!(
        (layout.image.size, layout.image.resize, layout.image.filter),
        (Some(256), Resize::Squash, Filter::Bilinear)
    );
    assert_eq!(layout.text.context_length, Some(64));
    assert!(!layout.text.causal);
    assert_eq!((layout.logits.scoring, layout.logits.scale, layout.logits.bias), (Scoring::Sigmoid, 10.0, -10.0));
}

#[test]
fn impossible_hf_values_name_the_file() {
    for (preprocessor, expected) in [
        (r#"{"size": {"shortest_edge": 200}, "do_center_crop": true, "crop_size": 224}"#, "larger than"),
        (r#"{"size": {"height": 224, "width": 200}}"#, "only square"),
        (r#"{"size": 224, "resample": 0}"#, "resample 0"),
        (r#"{"size": 224, "rescale_factor": 1.0}"#, "rescale_factor"),
        (r#"{"size": 224, "image_std": [0.5, 0, 0.5]}"#, "image_std"),
        ("[1, 2", "invalid"),
    ] {
        let folder = hf_folder("bad", r#"{"model_type": "clip"}"#, preprocessor);
        let err = folder.describe("").unwrap_err().to_string();
        assert!(err.contains("preprocessor_config.json") && err.contains(expected), "{preprocessor}: {err}");
    }
}

fn immich_folder(name: &str, config: &str, preprocess: &str) -> Folder {
    let folder = Folder::new(name);
    folder
        .file("config.json", config)
        .file("visual/model.onnx", "")
        .file("visual/preprocess_cfg.json", preprocess)
        .file("textual/model.onnx", "")
        .file("textual/tokenizer.json", "{}")
        .file("textual/tokenizer_config.json", r#"{"pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}"#);
    folder
}

#[test]
fn immich_reads_open_clip_configs() {
    let preprocess = r#"{"size": [224, 224], "mode": "RGB", "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6],
      "interpolation": "bilinear", "resize_mode": "shortest", "fill_color": 0}"#;
    let folder = immich_folder("immich", r#"{"embed_dim": 512, "text_cfg": {"context_length": 77}}"#, preprocess);
    let layout = folder.describe("").unwrap();
    assert_eq!(layout.family, "immich-clip");
    assert_eq!(layout.image.filter, Filter::Bilinear);
    assert_eq!(layout.image.resize, Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Immich });
    assert_eq!(layout.image.mean, [0.1, 0.2, 0.3]);
    assert_eq!(layout.text.cleanup, TextCleanup::Whitespace);
    assert!(layout.outputs_normalized);
    assert!(layout.text.causal, "CLIP's tokenizer: CLIP's causal text transformer");
    folder.file("textual/tokenizer_config.json", r#"{"pad_token": "<pad>", "tokenizer_class": "XLMRobertaTokenizer"}"#);
    let multilingual = folder.describe("").unwrap();
    assert!(!multilingual.text.causal, "M-CLIP's XLM-R pools over every slot");
    assert_eq!(multilingual.text.pad, PadToken::Named("<pad>".into()));
}

#[test]
fn immich_siglip_states_its_logit_bias() {
    let preprocess = r#"{"size": 384, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "resize_mode": "squash"}"#;
    let config = r#"{"embed_dim": 768, "init_logit_bias": -10, "init_logit_scale": 2.302585092994046,
      "text_cfg": {"context_length": 64, "tokenizer_kwargs": {"clean": "canonicalize"}}}"#;
    let folder = immich_folder("immich-siglip", config, preprocess);
    let layout = folder.describe("").unwrap();
    assert_eq!(layout.family, "immich-siglip");
    assert_eq!((layout.image.size, layout.image.resize), (Some(384), Resize::Squash));
    assert_eq!(layout.text.cleanup, TextCleanup::Canonicalize);
    assert_eq!(layout.logits.source, "config.json");
    assert!((layout.logits.scale - 10.0).abs() < 1e-4 && layout.logits.bias == -10.0);
    for (preprocess, expected) in [
        (r#"{"size": 224, "mean": 0.5, "std": 0.5, "resize_mode": "longest"}"#, "resize_mode \"longest\""),
        (r#"{"size": 224, "mean": 0.5, "std": 0.5, "interpolation": "nearest"}"#, "interpolation \"nearest\""),
        (r#"{"size": 224, "mean": 0.5}"#, "no std"),
        // A std that rounds to 0.0 in f32, and a mean that overflows it: NaN vectors before.
        (r#"{"size": 224, "mean": 0.5, "std": 1e-300}"#, "std must be three numbers from 0.000001 to 1000"),
        (r#"{"size": 224, "mean": 1e300, "std": 0.5}"#, "mean must be three numbers from -1000 to 1000"),
    ] {
        let folder = immich_folder("immich-bad", r#"{"embed_dim": 512}"#, preprocess);
        let err = folder.describe("").unwrap_err().to_string();
        assert!(err.contains("preprocess_cfg.json") && err.contains(expected), "{preprocess}: {err}");
    }
}

#[test]
fn a_folder_of_two_layouts_is_refused_with_both_named() {
    let folder = hf_folder("mixed", r#"{"model_type": "clip"}"#, CLIP_PREPROCESSOR);
    folder.file("visual.onnx", "");
    let err = family_of(&folder.0).map(|f| f.map(|f| f.name)).unwrap_err().to_string();
    assert!(err.contains("openai (visual.onnx") && err.contains("hf-clip (onnx/"), "{err}");
}
