//! CLIP image preprocessing, as OpenAI's `clip.load(...)[1]` (`_transform`) does it
//! on the RGB image the seed decodes ([`crate::decode`]): `Resize(S, BICUBIC)`
//! of the shorter side, `CenterCrop(S)`, `ToTensor()`, `Normalize(mean, std)`,
//! laid out NCHW.
//!
//! The image is 8-bit RGB by then (the seed wraps OpenCV's array with
//! `PIL.Image.fromarray`), so PIL resizes it in mode "RGB": bicubic is a port of
//! Pillow's own resampler ([`crate::pil_resample`]), and lossless images give
//! the reference's bytes exactly.

use crate::decode::decode_rgb;
use crate::error::{Error, Result};
use crate::pil_resample::resize_bicubic_window;

/// OpenAI CLIP's per-channel normalisation mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel normalisation standard deviation (RGB).
#[allow(clippy::excessive_precision)] // OpenAI's constants as published; f32 rounds them as torch does
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Limits that stop decompression bombs before they allocate.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: usize,
    /// Largest decoded image accepted, in pixels (width x height); also bounds
    /// the intermediate image of the shorter-side resize.
    pub max_pixels: u64,
}

/// How the vision tower wants its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelSpec {
    /// Side of the square input (224 for ViT-B/16).
    pub image_size: u32,
    /// Per-channel mean, RGB.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, RGB.
    pub std: [f32; 3],
}

/// Decodes `bytes` and returns the `[3, S, S]` normalised tensor (CHW, f32).
pub fn preprocess(bytes: &[u8], spec: &PixelSpec, limits: &ImageLimits) -> Result<Vec<f32>> {
    let image = decode_rgb(bytes, limits)?;
    let (width, height) = image.dimensions();
    let size = spec.image_size;
    let (resized_w, resized_h) = shorter_side_resize(width, height, size);
    if u64::from(resized_w) * u64::from(resized_h) > limits.max_pixels {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels would resize to {resized_w}x{resized_h}, over clip_embed.max_image_pixels ({})",
            limits.max_pixels
        )));
    }
    // torchvision CenterCrop: int(round((h - S) / 2.0)), Python's round-half-even.
    let top = round_half_even_half(resized_h - size);
    let left = round_half_even_half(resized_w - size);
    // A same-size resize is a no-op in PIL, and in the resampler.
    let window =
        resize_bicubic_window(image.as_raw(), 3, (width, height), (resized_w, resized_h), (left, top, size, size));
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    // ToTensor then Normalize, in f32 and in the reference's order of operations.
    for (i, px) in window.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - spec.mean[c]) / spec.std[c];
        }
    }
    Ok(out)
}

/// torchvision's `Resize(int)`: the shorter side becomes `size`, the longer
/// `int(size * long / short)` (truncated).
fn shorter_side_resize(width: u32, height: u32, size: u32) -> (u32, u32) {
    let long_side = |long: u32, short: u32| (u64::from(size) * u64::from(long) / u64::from(short)) as u32;
    if width <= height {
        (size, long_side(height, width))
    } else {
        (long_side(width, height), size)
    }
}

/// `int(round(n / 2.0))` with Python 3's round-half-to-even.
fn round_half_even_half(n: u32) -> u32 {
    let half = n / 2;
    if n % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_resize_truncates_the_long_side_like_torchvision() {
        assert_eq!(shorter_side_resize(640, 480, 224), (298, 224)); // 224*640/480 = 298.67
        assert_eq!(shorter_side_resize(480, 640, 224), (224, 298));
        assert_eq!(shorter_side_resize(300, 300, 224), (224, 224));
        assert_eq!(shorter_side_resize(1, 3, 224), (224, 672));
    }

    #[test]
    fn center_crop_offset_rounds_half_to_even_like_python() {
        // round(0.5) = 0, round(1.5) = 2, round(2.5) = 2, round(37.5) = 38
        assert_eq!(round_half_even_half(1), 0);
        assert_eq!(round_half_even_half(3), 2);
        assert_eq!(round_half_even_half(5), 2);
        assert_eq!(round_half_even_half(75), 38);
        assert_eq!(round_half_even_half(74), 37);
    }
}
