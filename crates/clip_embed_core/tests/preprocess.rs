//! Preprocessing against goldens computed by the Python reference
//! (tools/make_golden.py: OpenCV's decoding, OpenAI's transform at n_px = 64).
mod common;

use clip_embed_core::preprocess::{preprocess, Filter, ImageLimits, PixelSpec, Resize, Rounding, CLIP_MEAN, CLIP_STD};

const N_PX: u32 = 64;

fn spec() -> PixelSpec {
    PixelSpec {
        image_size: N_PX,
        resize: Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Torchvision },
        filter: Filter::Bicubic,
        mean: CLIP_MEAN,
        std: CLIP_STD,
    }
}

fn limits() -> ImageLimits {
    ImageLimits::DEFAULT
}

fn golden(name: &str) -> Vec<f32> {
    common::data(&format!("{name}.f32")).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// (max |diff|, mean |diff|) between our tensor and the reference's.
fn compare(name: &str) -> (f32, f32) {
    let ours = preprocess(&common::data(name), &spec(), &limits()).unwrap();
    let reference = golden(name);
    assert_eq!(ours.len(), reference.len());
    let diffs: Vec<f32> = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).collect();
    let max = diffs.iter().copied().fold(0.0, f32::max);
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    println!("{name}: max {:.2} levels, mean {:.3} levels", max / LEVEL, mean / LEVEL);
    (max, mean)
}

// One 8-bit level is 1 / (255 * std) ~= 0.0146 after normalisation.
const LEVEL: f32 = 1.0 / (255.0 * 0.268_629_54);

#[test]
fn png_matches_reference_exactly() {
    // Pillow's resampler is ported bit for bit; only f32 rounding may differ.
    let (max, _) = compare("landscape_rgb.png");
    assert!(max <= 1e-5, "max {max}");
}

#[test]
fn jpeg_matches_reference_within_decoder_differences() {
    // libjpeg-turbo on both sides (Debian's 2.1.5 here, 3.0.3 in OpenCV's
    // wheel), same IDCT and upsampling. Measured: 1.03 levels max, 0.17 mean
    // at this size; zune-jpeg alone gave 2.06 / 0.32.
    let (max, mean) = compare("portrait.jpg");
    assert!(max <= 2.0 * LEVEL && mean <= 0.3 * LEVEL, "max {max} mean {mean}");
}

#[test]
fn jpeg_exif_orientation_is_applied_like_opencv() {
    // Orientation 6: the 120x70 file embeds as the upright 70x120 image.
    let (max, mean) = compare("exif_rotated.jpg");
    assert!(max <= 2.0 * LEVEL && mean <= 0.3 * LEVEL, "max {max} mean {mean}");
}

#[test]
fn palette_png_expands_to_rgb_before_the_bicubic_resize() {
    let (max, _) = compare("palette.png");
    assert!(max <= 1e-5, "max {max}");
}

#[test]
fn rgba_png_drops_alpha_without_compositing() {
    let (max, _) = compare("rgba.png");
    assert!(max <= 1e-5, "max {max}");
}

#[test]
fn palette_tiff_reads_through_libtiff_like_opencv() {
    // The `tiff` crate refuses palette TIFFs; libtiff's RGBA interface, which OpenCV uses, reads them.
    let (max, _) = compare("palette.tif");
    assert!(max <= 1e-5, "max {max}");
}

#[test]
fn sixteen_bit_grey_png_keeps_the_high_byte() {
    let (max, _) = compare("grey16.png");
    assert!(max <= 1e-5, "max {max}");
}

#[test]
fn layout_is_nchw() {
    // 64x64: left half pure red, right half pure blue; no resize needed.
    let mut img = image::RgbImage::new(N_PX, N_PX);
    for (x, _, px) in img.enumerate_pixels_mut() {
        *px = if x < N_PX / 2 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) };
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let t = preprocess(&png, &spec(), &limits()).unwrap();
    let plane = (N_PX * N_PX) as usize;
    let at = |c: usize, y: usize, x: usize| t[c * plane + y * N_PX as usize + x];
    let red_max = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
    let blue_max = (1.0 - CLIP_MEAN[2]) / CLIP_STD[2];
    assert!((at(0, 10, 5) - red_max).abs() < 1e-5, "channel 0 is red, row-major");
    assert!((at(2, 10, 60) - blue_max).abs() < 1e-5, "channel 2 is blue");
    assert!(at(0, 10, 60) < 0.0 && at(2, 10, 5) < 0.0);
}

#[test]
fn bad_bytes_and_limits_are_errors_not_panics() {
    use clip_embed_core::ErrorKind;
    let kind = |bytes: &[u8], limits: &ImageLimits| preprocess(bytes, &spec(), limits).unwrap_err().kind();
    assert_eq!(kind(b"", &limits()), ErrorKind::InvalidImage);
    assert_eq!(kind(b"definitely not an image", &limits()), ErrorKind::InvalidImage);
    let png = common::data("landscape_rgb.png");
    assert_eq!(kind(&png[..png.len() / 2], &limits()), ErrorKind::InvalidImage, "truncated");
    assert_eq!(kind(&png, &ImageLimits { max_bytes: 100, max_pixels: 1 << 30 }), ErrorKind::LimitExceeded);
    assert_eq!(kind(&png, &ImageLimits { max_bytes: 1 << 30, max_pixels: 1000 }), ErrorKind::LimitExceeded);
}

#[test]
fn truncated_and_corrupted_images_never_panic() {
    // Deterministic corruption of every golden image: truncations at many
    // lengths and single-byte flips. Each must give Ok or a clean error; the
    // palette TIFF takes the libtiff path (C code), so it gets 2,000 flips.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = (0, 0);
    for name in ["landscape_rgb.png", "portrait.jpg", "palette.png", "rgba.png", "exif_rotated.jpg", "palette.tif"] {
        let bytes = common::data(name);
        for cut in (1..bytes.len()).step_by(bytes.len() / 97 + 1) {
            match preprocess(&bytes[..cut], &spec(), &limits()) {
                Ok(_) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            }
        }
        let flips = if name.ends_with(".tif") { 2000 } else { 200 };
        for _ in 0..flips {
            let mut corrupted = bytes.clone();
            let at = (next() % corrupted.len() as u64) as usize;
            corrupted[at] ^= (next() % 255 + 1) as u8;
            match preprocess(&corrupted, &spec(), &limits()) {
                Ok(_) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            }
        }
    }
    assert!(outcomes.1 > 0, "corruption was detected at least sometimes: {outcomes:?}");
}
