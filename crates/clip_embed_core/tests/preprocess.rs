//! Preprocessing against goldens computed by the Python reference
//! (tools/make_golden.py: OpenCV's decoding, OpenAI's transform at n_px = 64).
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clip_embed_core::image::decode::{decode_rgb, jpeg};
use clip_embed_core::image::{preprocess, preprocess_cancellable};
use clip_embed_core::recipe::{Filter, ImageRecipe, Resize, Rounding, CLIP_MEAN, CLIP_STD};
use clip_embed_core::ImageLimits;
use clip_embed_core::{Error, ErrorKind};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

const N_PX: u32 = 64;

/// OpenAI's recipe at n_px = 64.
fn spec() -> ImageRecipe {
    ImageRecipe {
        size: Some(N_PX),
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
    let ours = preprocess(&common::data(name), &spec(), N_PX, &limits()).unwrap();
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
    let t = preprocess(&png, &spec(), N_PX, &limits()).unwrap();
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
    let kind = |bytes: &[u8], limits: &ImageLimits| preprocess(bytes, &spec(), N_PX, limits).unwrap_err().kind();
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
            match preprocess(&bytes[..cut], &spec(), N_PX, &limits()) {
                Ok(_) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            }
        }
        let flips = if name.ends_with(".tif") { 2000 } else { 200 };
        for _ in 0..flips {
            let mut corrupted = bytes.clone();
            let at = (next() % corrupted.len() as u64) as usize;
            corrupted[at] ^= (next() % 255 + 1) as u8;
            match preprocess(&corrupted, &spec(), N_PX, &limits()) {
                Ok(_) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            }
        }
    }
    assert!(outcomes.1 > 0, "corruption was detected at least sometimes: {outcomes:?}");
}

/// ViT-B/16's recipe: 224, OpenAI's shortest side then crop.
fn spec_224(resize: Resize) -> ImageRecipe {
    ImageRecipe { size: Some(224), resize, filter: Filter::Bicubic, mean: CLIP_MEAN, std: CLIP_STD }
}

fn png(width: u32, height: u32, color: ExtendedColorType, pixels: &[u8]) -> Vec<u8> {
    png_with(CompressionType::Fast, width, height, color, pixels)
}

fn png_with(compression: CompressionType, width: u32, height: u32, color: ExtendedColorType, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, compression, FilterType::NoFilter)
        .write_image(pixels, width, height, color)
        .unwrap();
    out
}

fn limit_message<T>(result: clip_embed_core::Result<T>) -> String {
    match result {
        Err(e) if e.kind() == ErrorKind::LimitExceeded => e.to_string(),
        Err(e) => panic!("expected a limit error (54000), got {e:?}"),
        Ok(_) => panic!("expected a limit error (54000), got a result"),
    }
}

#[test]
fn a_19_megapixel_wide_png_is_refused_before_anything_is_allocated() {
    // Issue 14, row 3: 224 x 19,173,962 wraps a u32 to 192, so the old resized-size
    // check passed and the resampler allocated hundreds of MB. Now OpenCV's own
    // limit of 2^20 pixels a side refuses it at the header, for every recipe.
    let width = 19_173_962;
    let bytes = png(width, 1, ExtendedColorType::L8, &vec![0u8; width as usize]);
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    for resize in [Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Torchvision }, Resize::Squash] {
        let started = Instant::now();
        let message = limit_message(preprocess(&bytes, &spec_224(resize), 224, &limits()));
        assert!(message.contains("19173962x1") && message.contains("CV_IO_MAX_IMAGE_WIDTH"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
}

#[test]
fn a_wide_png_within_opencvs_limit_is_refused_by_its_resized_size() {
    // 2^20 x 1: the shortest side to 224 would make 234,881,024 x 224 (computed in u64).
    let width = 1 << 20;
    let bytes = png(width, 1, ExtendedColorType::L8, &vec![0u8; width as usize]);
    let generous = ImageLimits { max_bytes: 1 << 30, max_pixels: i32::MAX as u64 };
    let shortest = Resize::ShortestThenCrop { shortest: None, rounding: Rounding::Transformers };
    let message = limit_message(preprocess(&bytes, &spec_224(shortest), 224, &generous));
    assert!(message.contains("would resize to 234881024x224"), "{message}");
    // Squashed, it is a plain (if lopsided) resize: ~17 MB of weights for the window.
    let squashed = preprocess(&bytes, &spec_224(Resize::Squash), 224, &generous).unwrap();
    assert_eq!(squashed.len(), 3 * 224 * 224);
}

/// A JPEG whose scans have no entropy data: libjpeg still visits every block
/// of each (with a warning), which is what makes scan bombs cost.
fn jpeg_with_scans(sof: u8, width: u16, height: u16, scans: usize) -> Vec<u8> {
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        [&[0xFF, marker][..], &(payload.len() as u16 + 2).to_be_bytes(), payload].concat()
    }
    let mut out = vec![0xFF, 0xD8];
    out.extend(segment(0xDB, &[[0u8].as_slice(), &[1; 64]].concat()));
    let mut frame = vec![8];
    frame.extend_from_slice(&height.to_be_bytes());
    frame.extend_from_slice(&width.to_be_bytes());
    frame.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    out.extend(segment(sof, &frame));
    // DC and AC tables 0: one code of length 1, for symbol 0.
    for class in [0x00, 0x10] {
        out.extend(segment(0xC4, &[[class, 1].as_slice(), &[0; 15], &[0]].concat()));
    }
    let dc_scan = segment(0xDA, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 0, 0]);
    for _ in 0..scans {
        out.extend_from_slice(&dc_scan);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[test]
fn a_progressive_scan_bomb_is_refused_before_libjpeg_runs() {
    // Issue 14, row 2: 8192x8192 pixels and 9,000 scans of 3,145,728 blocks each
    // kept libjpeg busy for ~60 s, and no signal can stop it. Past 500 scans
    // libjpeg-turbo's own limit refuses it; a hundred scans are under that limit
    // and still 1.4 s of libjpeg (measured), so the work budget refuses them.
    for (scans, refusal) in [
        (9000, "more than 500 scans".to_string()),
        (
            100,
            format!(
                "{} units of decoding work (weighted block decodes) over its 100 scans, over the limit of 89478485",
                100 * 3 * 1024 * 1024
            ),
        ),
    ] {
        let bomb = jpeg_with_scans(0xC2, 8192, 8192, scans);
        assert!(bomb.len() < 200_000);
        let started = Instant::now();
        let message = limit_message(preprocess(&bomb, &spec(), N_PX, &limits()));
        assert!(message.contains(&refusal), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    // Past libjpeg-turbo's 500 scans (TJFLAG_LIMITSCANS), however small the image.
    let message = limit_message(preprocess(&jpeg_with_scans(0xC2, 16, 16, 501), &spec(), N_PX, &limits()));
    assert!(message.contains("more than 500 scans"), "{message}");
    assert!(preprocess(&jpeg_with_scans(0xC2, 16, 16, 500), &spec(), N_PX, &limits()).is_ok());
}

/// A little-endian TIFF of one strip: `strip`, compressed as `compression`,
/// 8-bit samples, three a pixel, in `photometric`.
fn tiff_of_one_strip(width: u32, height: u32, compression: u16, photometric: u16, strip: &[u8]) -> Vec<u8> {
    // (tag, type, count, value): SHORT = 3, LONG = 4; offsets patched below.
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, 0), // BitsPerSample: at `bits`
        (259, 3, 1, u32::from(compression)),
        (262, 3, 1, u32::from(photometric)),
        (273, 4, 1, 0), // StripOffsets: at `data`
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, strip.len() as u32),
        (284, 3, 1, 1),
    ];
    let bits = 8 + 2 + 12 * entries.len() as u32 + 4;
    let data = bits + 6;
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        let value = match tag {
            258 => bits,
            273 => data,
            _ => value,
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes()); // a SHORT sits in the low bytes
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[8, 0, 8, 0, 8, 0]);
    out.extend_from_slice(strip);
    out
}

#[test]
fn a_jpeg_compressed_tiff_scan_bomb_is_refused_before_libtiff_decodes_it() {
    // YCbCr JPEG-in-TIFF goes to libtiff, which hands each strip to libjpeg with
    // a limit of 100 scans: 99 arithmetic-coded scans of one 8192x8192 strip took
    // 9.2 s, 99 Huffman ones 1.5 s, before the strips were walked.
    for sof in [0xC2, 0xCA] {
        let tiff = tiff_of_one_strip(8192, 8192, 7, 6, &jpeg_with_scans(sof, 8192, 8192, 99));
        let started = Instant::now();
        let message = limit_message(decode_rgb(&tiff, &limits()));
        assert!(message.contains("JPEG-compressed TIFF needs") && message.contains("1 of its 1 strips"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    // A few scans of a smaller strip are an ordinary image.
    let tiff = tiff_of_one_strip(512, 512, 7, 6, &jpeg_with_scans(0xC2, 512, 512, 10));
    assert_eq!(decode_rgb(&tiff, &limits()).unwrap().dimensions(), (512, 512));
}

#[test]
fn the_scan_budget_is_the_pixel_limit_and_at_least_2_pow_24() {
    // 2048x2048 at 4:4:4: 196,608 blocks a scan; 85 scans are 16,711,680 block
    // decodes, 86 are 16,908,288, around the floor of 2^24 = 16,777,216.
    let limits = ImageLimits { max_bytes: 1 << 30, max_pixels: 2048 * 2048 };
    assert!(decode_rgb(&jpeg_with_scans(0xC2, 2048, 2048, 85), &limits).is_ok());
    let message = limit_message(decode_rgb(&jpeg_with_scans(0xC2, 2048, 2048, 86), &limits));
    assert!(
        message.contains(
            "16908288 units of decoding work (weighted block decodes) over its 86 scans, over the limit of 16777216"
        ),
        "{message}"
    );
    // A larger pixel limit raises the budget with it; sequential multi-scan files count too.
    let larger = ImageLimits { max_bytes: 1 << 30, max_pixels: 20_000_000 };
    assert!(decode_rgb(&jpeg_with_scans(0xC2, 2048, 2048, 86), &larger).is_ok());
    assert_eq!(jpeg::scan_work(&jpeg_with_scans(0xC0, 2048, 2048, 86)).work, 86 * 196_608);
}

#[test]
fn decoded_memory_boundaries_hold_for_the_widest_layouts() {
    // The pixel limit scaled down to keep this fast: P = 250,000.
    let limits = ImageLimits { max_bytes: 1 << 30, max_pixels: 250_000 };
    // 16-bit RGBA, the widest integer layout: 8 bytes a pixel, at P exactly.
    // The encoder takes native-endian samples.
    let pixel: Vec<u8> = [0x1234u16, 0x5678, 0x9ABC, 0xFFFF].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let rgba16 = pixel.repeat(500 * 500);
    let at_limit = png_with(CompressionType::Best, 500, 500, ExtendedColorType::Rgba16, &rgba16);
    assert!(at_limit.len() < 100_000, "compresses small: {}", at_limit.len());
    let image = decode_rgb(&at_limit, &limits).unwrap();
    assert_eq!(image.dimensions(), (500, 500));
    assert_eq!(image.get_pixel(499, 499).0, [0x12, 0x56, 0x9A], "the high bytes (libpng's strip_16)");
    let over = png(501, 500, ExtendedColorType::Rgba16, &[rgba16.as_slice(), &rgba16[..500 * 8]].concat());
    let message = limit_message(decode_rgb(&over, &limits));
    assert!(message.contains("501x500 pixels is over clip_embed.max_image_pixels (250000)"), "{message}");
    // A float RGBA TIFF is 16 bytes a pixel: refused above half the pixel limit.
    let tiff = |side: u32| {
        let pixels: Vec<u8> = (0..side * side * 4).flat_map(|i| (i as f32 / 1e6).to_ne_bytes()).collect();
        let mut out = std::io::Cursor::new(Vec::new());
        image::codecs::tiff::TiffEncoder::new(&mut out)
            .write_image(&pixels, side, side, ExtendedColorType::Rgba32F)
            .unwrap();
        out.into_inner()
    };
    assert!(decode_rgb(&tiff(350), &limits).is_ok()); // 122,500 pixels: 1,960,000 bytes
    let message = limit_message(decode_rgb(&tiff(360), &limits)); // 129,600 pixels: 2,073,600 bytes
    assert!(message.contains("decodes to 2073600 bytes (Rgba32F), over 8 bytes per pixel"), "{message}");
}

static POLLS: AtomicUsize = AtomicUsize::new(0);
static TRIPPED_POLLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn decoding_and_resizing_poll_the_cancel_check() {
    // 900x700 of noise: ~1.9 MB of PNG, read in 64 KiB steps; then 700 source
    // rows and 64 output rows in the resampler.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..900 * 700 * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let bytes = png(900, 700, ExtendedColorType::Rgb8, &noise);
    let counting = || {
        POLLS.fetch_add(1, Ordering::Relaxed);
        false
    };
    preprocess_cancellable(&bytes, &spec(), N_PX, &limits(), Some(counting)).unwrap();
    let polls = POLLS.load(Ordering::Relaxed);
    assert!(polls > 700 + 64 + 20, "{polls} polls");

    assert!(matches!(preprocess_cancellable(&bytes, &spec(), N_PX, &limits(), Some(|| true)), Err(Error::Cancelled)));
    // A cancel that arrives during the PNG's decoding (its 10th poll) stops it there.
    let late = || TRIPPED_POLLS.fetch_add(1, Ordering::Relaxed) >= 10;
    assert!(matches!(preprocess_cancellable(&bytes, &spec(), N_PX, &limits(), Some(late)), Err(Error::Cancelled)));
    assert_eq!(TRIPPED_POLLS.load(Ordering::Relaxed), 11, "stopped at the poll that said so");
}
