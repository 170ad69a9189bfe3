//! CLIP image preprocessing on the RGB image the seed decodes
//! ([`crate::image::decode`]); decoding is common to every model family, the
//! geometry is the family's ([`ImageRecipe`]: resize, filter, mean and std):
//! - OpenAI's `_transform` and open_clip's "shortest": `Resize(S, BICUBIC)` of
//!   the shorter side, `CenterCrop(S)` (torchvision's rounding), `ToTensor()`,
//!   `Normalize(mean, std)`;
//! - transformers' `CLIPImageProcessor`: the same steps with its own rounding
//!   of the crop offset (floor), and a shorter side that may exceed the crop;
//! - Immich's `resize_pil` + `crop_pil`: the long side computed from the
//!   aspect ratio in floating point, crop offset floored;
//! - "squash" (SigLIP's processors, open_clip's `resize_mode: squash`): straight
//!   to S×S, aspect ratio not kept.
//!
//! The image is 8-bit RGB by then (the seed wraps OpenCV's array with
//! `PIL.Image.fromarray`; every family's reference resizes a PIL image in mode
//! "RGB"), so the resamplers are a port of Pillow's own ([`crate::image::pil_resample`]),
//! and lossless images give the reference's bytes exactly.

use crate::cancel::poll;
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::image::decode::decode_rgb_cancellable;
use crate::image::limits::ImageLimits;
use crate::image::pil_resample::resize_window;
use crate::recipe::{ImageRecipe, Resize, Rounding};

/// Decodes `bytes` and returns the `[3, S, S]` normalised tensor (CHW, f32)
/// for a square input of side `size` (S: the recipe's, else the graph's).
pub fn preprocess(bytes: &[u8], recipe: &ImageRecipe, size: u32, limits: &ImageLimits) -> Result<Vec<f32>> {
    preprocess_cancellable(bytes, recipe, size, limits, None)
}

/// [`preprocess`], polling `cancel` between phases, every 64 KiB of input the
/// memory-safe decoders read, and on every row of the resampler's passes
/// ([`Error::Cancelled`]). What remains uninterruptible is one call into C
/// (libjpeg's decode, bounded by its work budget, the pixel limit and the byte
/// limit: 1.71 s measured for a dense 38.6 MB progressive 4:4:4 JPEG at the
/// default limits; one libtiff strip) or one strip or frame in a memory-safe
/// decoder; see [`crate::image::decode::decode_rgb_cancellable`].
pub fn preprocess_cancellable(
    bytes: &[u8],
    recipe: &ImageRecipe,
    size: u32,
    limits: &ImageLimits,
    cancel: Option<CancelCheck>,
) -> Result<Vec<f32>> {
    let image = decode_rgb_cancellable(bytes, limits, cancel)?;
    let (width, height) = image.dimensions();
    let (resized, window) = match recipe.resize {
        Resize::Squash => ((size, size), (0, 0)),
        Resize::ShortestThenCrop { shortest, rounding } => {
            let (resized_w, resized_h) = shorter_side_resize(width, height, shortest.unwrap_or(size), rounding);
            // In u64: 224 x 19,173,962 would wrap a u32 (and pass this check).
            if resized_w.saturating_mul(resized_h) > limits.max_pixels {
                return Err(Error::LimitExceeded(format!(
                    "image of {width}x{height} pixels would resize to {resized_w}x{resized_h}, over clip_embed.max_image_pixels ({})",
                    limits.max_pixels
                )));
            }
            let (resized_w, resized_h) = (u32::try_from(resized_w), u32::try_from(resized_h));
            let (Ok(resized_w), Ok(resized_h)) = (resized_w, resized_h) else {
                return Err(Error::LimitExceeded(format!(
                    "image of {width}x{height} pixels resizes past 2^32 pixels a side"
                )));
            };
            let offset = |d: u32| match rounding {
                Rounding::Torchvision => round_half_even_half(d - size),
                Rounding::Transformers | Rounding::Immich => (d - size) / 2,
            };
            ((resized_w, resized_h), (offset(resized_w), offset(resized_h)))
        }
    };
    poll(cancel)?;
    // A same-size resize is a no-op in PIL, and in the resampler.
    let window = resize_window(
        image.as_raw(),
        3,
        recipe.filter,
        (width, height),
        resized,
        (window.0, window.1, size, size),
        cancel,
    )?;
    drop(image);
    let plane = size as usize * size as usize;
    let mut out = vec![0f32; 3 * plane];
    // ToTensor then Normalize, in f32 and in the reference's order of operations.
    for (i, px) in window.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - recipe.mean[c]) / recipe.std[c];
        }
    }
    Ok(out)
}

/// The size after the shorter side becomes `size`, the longer in `rounding`'s
/// arithmetic (never below `size`: the crop must fit), in u64: a long side of
/// up to 2^20 times `size` does not fit a u32.
fn shorter_side_resize(width: u32, height: u32, size: u32, rounding: Rounding) -> (u64, u64) {
    let size64 = u64::from(size);
    let long_side = |long: u32, short: u32| match rounding {
        Rounding::Torchvision | Rounding::Transformers => size64 * u64::from(long) / u64::from(short),
        // Python's float arithmetic is f64's; the cast truncates like int()
        // (and saturates rather than wraps).
        Rounding::Immich => ((f64::from(long) / f64::from(short)) * f64::from(size)) as u64,
    };
    let portrait = match rounding {
        Rounding::Immich => width < height,
        _ => width <= height,
    };
    if portrait {
        (size64, long_side(height, width).max(size64))
    } else {
        (long_side(width, height).max(size64), size64)
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
        let torchvision = |w, h| shorter_side_resize(w, h, 224, Rounding::Torchvision);
        assert_eq!(torchvision(640, 480), (298, 224)); // 224*640/480 = 298.67
        assert_eq!(torchvision(480, 640), (224, 298));
        assert_eq!(torchvision(300, 300), (224, 224));
        assert_eq!(torchvision(1, 3), (224, 672));
    }

    #[test]
    fn the_long_side_is_computed_in_u64() {
        // 224 x 19,173,962 = 4,294,967,488: a u32 wrapped it to 192, and the
        // resized-size check then saw 224x224 (issue 14, row 3).
        for rounding in [Rounding::Torchvision, Rounding::Transformers, Rounding::Immich] {
            assert_eq!(shorter_side_resize(19_173_962, 1, 224, rounding), (4_294_967_488, 224));
            assert_eq!(shorter_side_resize(1, 1 << 20, 224, rounding), (224, 224 << 20));
        }
    }

    #[test]
    fn immich_computes_the_ratio_first_in_floating_point() {
        // (115 / 112) * 224 = 229.99999999999997 in f64: Python's int() gives 229, 224 * 115 // 112 = 230.
        assert_eq!(shorter_side_resize(115, 112, 224, Rounding::Immich), (229, 224));
        assert_eq!(shorter_side_resize(115, 112, 224, Rounding::Transformers), (230, 224));
        assert_eq!(shorter_side_resize(640, 480, 224, Rounding::Immich), (298, 224));
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
