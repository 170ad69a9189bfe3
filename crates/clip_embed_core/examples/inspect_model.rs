//! Loads one model folder with clip_embed's own core, as a backend would, runs
//! both towers once and prints what was detected: scripts/install_model.sh
//! runs it (set-up builds it: installing a model compiles nothing) before a
//! folder is installed under its name. Every variant of the folder
//! (`name:quantized`, ...) is run and printed. A variant that does not run (an
//! operator this ONNX Runtime lacks, a damaged graph) is reported as
//! `unsupported:` with the reason, and its graphs as `remove:` lines (paths in
//! the folder), so the rest of a full repository installs.
//! Usage: inspect_model MODEL_DIR NAME ONNXRUNTIME_LIBRARY [SHOWN_NAME]
//! Exit status 1, with the reason on stderr, when no variant would serve.
use std::io::Cursor;
use std::path::PathBuf;

use clip_embed_core::{Error, Registry, Settings};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_dir, name, onnxruntime, shown) = match args.as_slice() {
        [dir, name, ort] => (dir, name, ort, name),
        [dir, name, ort, shown] => (dir, name, ort, shown),
        _ => {
            eprintln!("usage: inspect_model MODEL_DIR NAME ONNXRUNTIME_LIBRARY [SHOWN_NAME]");
            std::process::exit(2);
        }
    };
    let settings = Settings::new(PathBuf::from(model_dir), PathBuf::from(onnxruntime));
    let fail = |what: &str, e: Error| -> ! {
        eprintln!("{shown}: {what}: {e}");
        std::process::exit(1);
    };
    let mut registry = Registry::new();
    // A small picture, encoded as a user's bytes would be.
    let mut png = Vec::new();
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]))
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode a test image");
    // The folder's models: its plain variant and any others (`name:variant`).
    let rows = registry.list_models(&settings).unwrap_or_else(|e| fail("cannot list the model directory", e));
    let prefix = format!("{name}:");
    let variants: Vec<String> =
        rows.iter().filter(|r| r.name == *name || r.name.starts_with(&prefix)).map(|r| r.name.clone()).collect();
    if variants.is_empty() {
        eprintln!("{shown}: not recognised as a model folder (see docs/models.md for the layouts)");
        std::process::exit(1);
    }
    // A folder whose plain variant cannot be described is not a model at all.
    let mut unsupported = Vec::new();
    for row in rows.iter().filter(|r| variants.contains(&r.name)) {
        if let Some(problem) = &row.problem {
            if row.variant.is_empty() {
                eprintln!("{}: cannot be used: {problem}", row.name.replacen(name.as_str(), shown, 1));
                std::process::exit(1);
            }
            unsupported.push((row.name.clone(), problem.clone(), Vec::new()));
        }
    }
    let folder = PathBuf::from(model_dir).join(name);
    let mut served = 0;
    let described: Vec<String> =
        variants.iter().filter(|v| !unsupported.iter().any(|(u, ..)| u == *v)).cloned().collect();
    for model in &described {
        let ran =
            registry.embed_text(&settings, model, "a photo of a cat", true).map_err(|e| ("text", e)).and_then(|text| {
                registry.embed_image(&settings, model, &png, true).map(|image| (text, image)).map_err(|e| ("vision", e))
            });
        let (text, image) = match ran {
            Ok(ran) => ran,
            Err((tower, Error::Cancelled)) => fail(&format!("{model}: the {tower} tower"), Error::Cancelled),
            Err((tower, e)) => {
                let rows = registry.list_models(&settings).unwrap_or_default();
                let graphs = rows
                    .iter()
                    .find(|r| r.name == *model)
                    .and_then(|r| r.details.as_ref())
                    .map(|l| [l.visual.clone(), l.textual.clone()].to_vec())
                    .unwrap_or_default();
                unsupported.push((model.clone(), format!("the {tower} tower does not run: {e}"), graphs));
                continue;
            }
        };
        served += 1;
        let rows = registry.list_models(&settings).unwrap_or_else(|e| fail("cannot list the model directory", e));
        let row = rows.iter().find(|r| r.name == *model).expect("listed above");
        let layout = row.details.as_ref().expect("a model that ran has a layout");
        let shown_name = model.replacen(name.as_str(), shown, 1);
        println!("model:          {shown_name}");
        println!("layout:         {}", row.layout);
        println!("variant:        {}", if row.variant.is_empty() { "(plain)" } else { row.variant.as_str() });
        println!("embedding dim:  text {}, image {}", text.len(), image.len());
        let size = row.image_size.unwrap_or(224);
        println!("image:          {size}x{size}, {}", layout.image.summary(size));
        println!(
            "text:           context {}, cleanup {}, {}",
            row.context_length.map_or("?".into(), |c| c.to_string()),
            layout.text.cleanup.name(),
            if layout.text.causal { "run at its own length" } else { "padded to the context" }
        );
        println!(
            "zero-shot:      {} of {} x cosine + {} ({})",
            layout.logits.scoring.name(),
            layout.logits.scale,
            layout.logits.bias,
            layout.logits.source
        );
        println!("fingerprint:    {}", row.fingerprint);
        println!(
            "load time:      text {:.0} ms, image {:.0} ms",
            row.text_load_ms.unwrap_or(0.0),
            row.image_load_ms.unwrap_or(0.0)
        );
        if let Some(description) = &row.description {
            println!("description:    {description}");
        }
    }
    for (model, why, graphs) in &unsupported {
        println!("unsupported:    {} ({why})", model.replacen(name.as_str(), shown, 1));
        for graph in graphs {
            // The graph and the weights exported beside it.
            for file in [graph.clone(), graph.with_extension("onnx_data"), graph.with_extension("onnx.data")] {
                if let Ok(relative) = file.strip_prefix(&folder) {
                    if file.is_file() {
                        println!("remove:         {}", relative.display());
                    }
                }
            }
        }
    }
    if served == 0 {
        eprintln!("{shown}: no variant of the folder runs");
        std::process::exit(1);
    }
}
