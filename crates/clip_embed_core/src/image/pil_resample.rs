//! PIL's bicubic and bilinear resizes for 8-bit images, ported from Pillow's
//! `Resample.c` so that lossless images preprocess to exactly the reference's
//! bytes (OpenAI's, open_clip's and transformers' processors all resize with PIL).
//!
//! Pillow resamples in two separable passes (horizontal into an 8-bit
//! intermediate, then vertical) with the filter's weights (bicubic: a = -0.5
//! cubic, support 2; bilinear: triangle, support 1), support scaled by
//! the downscale factor (antialiasing), weights normalised per output pixel and
//! converted to 22-bit fixed point, rounding by adding half before the shift.
//! A generic fixed-point resizer (fast_image_resize) differed by up to 3
//! 8-bit levels (measured on the preprocessing goldens); this port by 0.
//!
//! Only the output window that CLIP's centre crop keeps is computed: each
//! output pixel depends on its own weights alone, so cropping after a full
//! resize and computing the window directly give identical bytes.

use crate::cancel::poll;
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::recipe::Filter;

/// Pillow's `PRECISION_BITS` for 8-bit images: 32 - 8 - 2.
const PRECISION_BITS: u32 = 22;

impl Filter {
    /// Half the filter's width at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Bicubic => 2.0,
            Filter::Bilinear => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Bicubic => bicubic(x),
            Filter::Bilinear => bilinear(x),
        }
    }
}

/// Pillow's bilinear (triangle) filter, support 1.
fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Pillow's bicubic filter, a = -0.5 (support 2).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The most the resampler allocates for one resize (weights, intermediate and
/// output): 256 MiB, a backstop that the pixel limits keep far away.
///
/// The bound, for a W x H source (each side at most OpenCV's 2^20, W x H at
/// most P = `clip_embed.max_image_pixels`) resized for an S x S window:
/// * weights are computed for the window's outputs only: per axis, at most
///   S x (4 x ksize + 16) bytes with ksize <= 4 x in / out + 3 (bicubic), so
///   <= 16 x 2^20 + 28 S bytes: ~17 MB for the squash of a 2^20-tall image,
///   whatever the recipe (a table for every output of that axis, as Pillow
///   makes, would be as large; for the squash of 19,173,962 x 1 pixels, which
///   OpenCV's side limit now refuses, ~300 MB);
/// * the 8-bit intermediate: Pillow's pass order ([`vertical_first`]) runs the
///   vertical pass first whenever the height shrinks more than twice the width,
///   and a single pass reads the source in place, so the intermediate holds at
///   most ~sqrt(2P) rows or columns of S pixels: sqrt(2P) x S x 3 bytes;
/// * the output window, S x S x 3 bytes, and one row of i32 sums.
///
/// Swept over source shapes at the limit for both recipes (`bound_tests`
/// below): at most 17.1 MB at the defaults (P = 89,478,485, S = 224; the squash
/// of 81 x 1,048,576), 31 MB at OpenCV's P = 2^30 with S = 224 and 71 MB with
/// S = 512. The work is proportional to the taps read: ~4 x 3 x W x H
/// multiply-adds per pass at most, and the loops poll the cancel check on
/// every output row.
pub const RESAMPLE_MAX_BYTES: u64 = 256 << 20;

/// Fixed-point weights for the outputs `start..start + first.len()` of one
/// axis: output `start + i` takes `count[i]` taps,
/// `weights[i*ksize .. i*ksize + count[i]]`, from source `first[i]` on.
struct Axis {
    ksize: usize,
    first: Vec<usize>,
    count: Vec<usize>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` sizes for resizing `in_size` to `out_size`:
/// (scale, filterscale, support, ksize).
fn geometry(filter: Filter, in_size: u32, out_size: u32) -> (f64, f64, f64, u64) {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    // support <= 2 x 2^32: the cast cannot saturate into a wrong size.
    (scale, filterscale, support, support.ceil() as u64 * 2 + 1)
}

/// The source range `xmin..xmin + taps` that output `xx` reads (Pillow's bounds,
/// C's truncating casts included).
fn taps(in_size: u32, scale: f64, support: f64, xx: usize) -> (usize, usize) {
    let center = (xx as f64 + 0.5) * scale;
    let xmin = ((center - support + 0.5) as i64).max(0);
    let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size)) - xmin;
    (xmin as usize, xmax.max(0) as usize)
}

/// Bytes of an [`Axis`] of `outputs` outputs and `ksize` taps each, with its
/// scratch row of f64 weights.
fn axis_bytes(outputs: u64, ksize: u64) -> u64 {
    outputs.saturating_mul(ksize.saturating_mul(4).saturating_add(16)).saturating_add(ksize.saturating_mul(8))
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for resizing
/// `in_size` to `out_size`, for the outputs in `outputs` only.
fn precompute(filter: Filter, in_size: u32, out_size: u32, outputs: std::ops::Range<usize>) -> Axis {
    let (scale, filterscale, support, ksize) = geometry(filter, in_size, out_size);
    let ksize = ksize as usize;
    let mut first = Vec::with_capacity(outputs.len());
    let mut count = Vec::with_capacity(outputs.len());
    let mut weights = vec![0i32; outputs.len() * ksize];
    let mut k = vec![0f64; ksize];
    for (i, xx) in outputs.enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let (xmin, n) = taps(in_size, scale, support, xx);
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate().take(n) {
            *w = filter.weight(((x + xmin) as f64 - center + 0.5) * ss);
            total += *w;
        }
        for (x, w) in k.iter().enumerate().take(n) {
            let w = if total != 0.0 { w / total } else { *w };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[i * ksize + x] = if w < 0.0 { (-0.5 + fixed) as i32 } else { (0.5 + fixed) as i32 };
        }
        first.push(xmin);
        count.push(n);
    }
    Axis { ksize, first, count, weights }
}

/// One row of the horizontal pass for `C` interleaved channels, one output
/// pixel per output of `axis`. Pillow's INT32 accumulators: the bicubic
/// weights' positive sum (< 1.2) keeps 255 * 2^22 * it below 2^31, so
/// wrapping arithmetic never wraps; it only spares overflow checks.
/// `src` holds source columns from `src_first` on.
fn horizontal_row<const C: usize>(src: &[u8], src_first: usize, dst: &mut [u8], axis: &Axis) {
    for (x, out) in dst.chunks_exact_mut(C).enumerate() {
        let taps = &axis.weights[x * axis.ksize..x * axis.ksize + axis.count[x]];
        let start = (axis.first[x] - src_first) * C;
        let source = &src[start..start + taps.len() * C];
        let mut sums = [1i32 << (PRECISION_BITS - 1); C];
        for (px, &w) in source.chunks_exact(C).zip(taps) {
            for c in 0..C {
                sums[c] = sums[c].wrapping_add(i32::from(px[c]).wrapping_mul(w));
            }
        }
        for c in 0..C {
            out[c] = clip8(sums[c]);
        }
    }
}

fn horizontal(channels: usize, src: &[u8], src_first: usize, dst: &mut [u8], axis: &Axis) {
    match channels {
        3 => horizontal_row::<3>(src, src_first, dst, axis),
        _ => horizontal_row::<4>(src, src_first, dst, axis),
    }
}

/// Pillow's `clip8`: round-by-half already added, shift, saturate.
fn clip8(value: i32) -> u8 {
    if value >= (1i32 << PRECISION_BITS) << 8 {
        255
    } else if value <= 0 {
        0
    } else {
        (value >> PRECISION_BITS) as u8
    }
}

/// Pillow 13.0's choice of pass order (`ImagingResampleInner`): "if height is
/// being scaled down more than twice the amount the width is, run the vertical
/// pass first". Each pass rounds to 8 bits, so the order changes pixels: the
/// parity corpus's 200x300 PNG squashed to 224x224 differs by up to 13 levels
/// between the orders (measured once, in Python with both orders of PIL passes). Pillow 12 and earlier always ran the horizontal pass first; the
/// reference pins Pillow 13.0.0 (tools/requirements.txt).
fn vertical_first((width, height): (u32, u32), (out_width, out_height): (u32, u32)) -> bool {
    let shrink_y = i64::from(height) - i64::from(out_height);
    let shrink_x = i64::from(width) - i64::from(out_width);
    shrink_y > 0 && shrink_y > shrink_x * 2
}

/// What one resize will do and allocate, computed in u64 before anything is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Whether each pass runs (a same-size axis is a no-op, as in Pillow).
    pub horizontal: bool,
    pub vertical: bool,
    /// Pillow 13's order: the vertical pass first.
    pub vertical_first: bool,
    /// Source rows (horizontal first) or columns (vertical first) the window reads.
    pub source_range: (u64, u64),
    /// Bytes of weights, intermediate image, output and sums.
    pub bytes: u64,
}

/// Plans the resize of [`resize_window`], refusing one that would allocate
/// more than [`RESAMPLE_MAX_BYTES`] or whose window is not inside the output.
pub fn plan(
    filter: Filter,
    channels: usize,
    (width, height): (u32, u32),
    (out_width, out_height): (u32, u32),
    (left, top, window_width, window_height): (u32, u32, u32, u32),
) -> Result<Plan> {
    if width == 0 || height == 0 || out_width == 0 || out_height == 0 || window_width == 0 || window_height == 0 {
        return Err(Error::InvalidArgument("resize to or from an empty image".into()));
    }
    if u64::from(left) + u64::from(window_width) > u64::from(out_width)
        || u64::from(top) + u64::from(window_height) > u64::from(out_height)
    {
        return Err(Error::InvalidArgument("resize window outside the resized image".into()));
    }
    let c = channels as u64;
    let (ww, wh) = (u64::from(window_width), u64::from(window_height));
    let horizontal = out_width != width;
    let vertical = out_height != height;
    let first = vertical && horizontal && vertical_first((width, height), (out_width, out_height));
    let (_, _, _, h_ksize) = geometry(filter, width, out_width);
    let (_, _, _, v_ksize) = geometry(filter, height, out_height);
    let mut bytes = 0u64;
    if horizontal {
        bytes = bytes.saturating_add(axis_bytes(ww, h_ksize));
    }
    if vertical {
        bytes = bytes.saturating_add(axis_bytes(wh, v_ksize));
    }
    // The source span the window's outputs read along one axis; the bounds grow
    // with the output index, so the first and last outputs give it.
    let span = |in_size: u32, out_size: u32, start: u32, len: u32| {
        let (scale, _, support, _) = geometry(filter, in_size, out_size);
        let (lo, _) = taps(in_size, scale, support, start as usize);
        let (last, n) = taps(in_size, scale, support, (start + len - 1) as usize);
        (lo as u64, ((last + n) as u64).max(lo as u64))
    };
    let source_range = if first {
        let (lo, hi) = span(width, out_width, left, window_width);
        // The vertical pass's output: the window's rows over those columns.
        bytes = bytes.saturating_add(wh * (hi - lo) * c).saturating_add((hi - lo) * c * 4);
        (lo, hi)
    } else if vertical && !horizontal {
        // The vertical pass alone reads the source rows in place.
        bytes = bytes.saturating_add(ww * c * 4);
        span(height, out_height, top, window_height)
    } else {
        let (lo, hi) =
            if vertical { span(height, out_height, top, window_height) } else { (u64::from(top), u64::from(top) + wh) };
        // The horizontal pass's output: those rows, the window's columns.
        bytes = bytes.saturating_add((hi - lo) * ww * c).saturating_add(ww * c * 4);
        (lo, hi)
    };
    bytes = bytes.saturating_add(ww * wh * c);
    if bytes > RESAMPLE_MAX_BYTES {
        return Err(Error::LimitExceeded(format!(
            "resizing {width}x{height} to {out_width}x{out_height} needs {bytes} bytes of resampling buffers, \
             over the resampler's limit of {RESAMPLE_MAX_BYTES}"
        )));
    }
    Ok(Plan { horizontal, vertical, vertical_first: first, source_range, bytes })
}

/// Resizes an interleaved 8-bit image of `channels` channels (3 or 4) from
/// `width`x`height` to `out_width`x`out_height` as PIL's `resize` with
/// `filter` does, and returns only the window of `window` (left, top, width,
/// height) of the result. Its buffers are planned first ([`plan`]); `cancel`
/// is polled on every row of each pass ([`Error::Cancelled`]).
pub fn resize_window(
    pixels: &[u8],
    channels: usize,
    filter: Filter,
    (width, height): (u32, u32),
    (out_width, out_height): (u32, u32),
    window: (u32, u32, u32, u32),
    cancel: Option<CancelCheck>,
) -> Result<Vec<u8>> {
    let plan = plan(filter, channels, (width, height), (out_width, out_height), window)?;
    let src_stride = width as usize * channels;
    if pixels.len() != src_stride * height as usize {
        return Err(Error::InvalidArgument("pixel buffer does not match the image size".into()));
    }
    let (left, top, ww, wh) = (window.0 as usize, window.1 as usize, window.2 as usize, window.3 as usize);
    let (lo, hi) = (plan.source_range.0 as usize, plan.source_range.1 as usize);
    let horizontal_axis = plan.horizontal.then(|| precompute(filter, width, out_width, left..left + ww));
    let vertical_axis = plan.vertical.then(|| precompute(filter, height, out_height, top..top + wh));

    if let (true, Some(horizontal_axis), Some(vertical_axis)) = (plan.vertical_first, &horizontal_axis, &vertical_axis)
    {
        // The vertical pass over the source columns lo..hi that the window's
        // horizontal taps read (strided: no copy of those columns), then the
        // horizontal pass over that 8-bit intermediate.
        let cols = hi - lo;
        let mid = vertical_pass(pixels, src_stride, lo * channels, cols * channels, 0, vertical_axis, cancel)?;
        let mut out = vec![0u8; wh * ww * channels];
        for (src, dst) in mid.chunks_exact(cols * channels).zip(out.chunks_exact_mut(ww * channels)) {
            poll(cancel)?;
            horizontal(channels, src, lo, dst, horizontal_axis);
        }
        return Ok(out);
    }

    if let (false, Some(vertical_axis)) = (plan.horizontal, &vertical_axis) {
        // Only the vertical pass, over the window's columns of the source rows.
        return vertical_pass(pixels, src_stride, left * channels, ww * channels, 0, vertical_axis, cancel);
    }

    // Horizontal pass over the source rows lo..hi, window columns only.
    let mut mid = vec![0u8; (hi - lo) * ww * channels];
    for (row, dst) in (lo..hi).zip(mid.chunks_exact_mut(ww * channels)) {
        poll(cancel)?;
        let src = &pixels[row * src_stride..(row + 1) * src_stride];
        match &horizontal_axis {
            Some(axis) => horizontal(channels, src, 0, dst, axis),
            None => dst.copy_from_slice(&src[left * channels..(left + ww) * channels]),
        }
    }
    match &vertical_axis {
        Some(axis) => vertical_pass(&mid, ww * channels, 0, ww * channels, lo, axis, cancel),
        None => Ok(mid),
    }
}

/// The vertical pass, one output row per output of `vertical`, over the
/// `row_bytes` bytes from `offset` on of each row of `src` (rows of `stride`
/// bytes, the first being source row `row_first`).
fn vertical_pass(
    src: &[u8],
    stride: usize,
    offset: usize,
    row_bytes: usize,
    row_first: usize,
    vertical: &Axis,
    cancel: Option<CancelCheck>,
) -> Result<Vec<u8>> {
    let rows = vertical.first.len();
    let mut out = vec![0u8; rows * row_bytes];
    let mut sums = vec![0i32; row_bytes];
    for (y, dst) in out.chunks_exact_mut(row_bytes.max(1)).enumerate().take(rows) {
        poll(cancel)?;
        let taps = &vertical.weights[y * vertical.ksize..y * vertical.ksize + vertical.count[y]];
        let start = vertical.first[y] - row_first;
        sums.iter_mut().for_each(|s| *s = 1 << (PRECISION_BITS - 1));
        for (t, &w) in taps.iter().enumerate() {
            let at = (start + t) * stride + offset;
            for (s, &v) in sums.iter_mut().zip(&src[at..at + row_bytes]) {
                *s = s.wrapping_add(i32::from(v).wrapping_mul(w));
            }
        }
        for (o, &s) in dst.iter_mut().zip(&sums) {
            *o = clip8(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (filter, (from, to)) in [Filter::Bicubic, Filter::Bilinear]
            .into_iter()
            .flat_map(|f| [(1280, 298), (61, 64), (224, 224), (3, 224), (1000, 7)].map(|size| (f, size)))
        {
            let axis = precompute(filter, from, to, 0..to as usize);
            for i in 0..to as usize {
                let sum: i64 =
                    axis.weights[i * axis.ksize..i * axis.ksize + axis.count[i]].iter().map(|&w| i64::from(w)).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= axis.count[i] as i64, "{from}->{to} at {i}: {sum}");
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let pixels = vec![77u8; 50 * 30 * 3];
        let out = resize_window(&pixels, 3, Filter::Bilinear, (50, 30), (37, 22), (0, 0, 37, 22), None).unwrap();
        assert!(out.iter().all(|&v| v == 77));
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn pass_order_follows_pillow_13() {
        assert!(vertical_first((200, 300), (224, 224))); // height shrinks, width grows
        assert!(vertical_first((260, 390), (224, 224))); // 166 > 2 * 36
        assert!(!vertical_first((130, 210), (224, 224))); // both grow
        assert!(!vertical_first((300, 300), (224, 224)));
        assert!(!vertical_first((480, 640), (224, 298))); // a shorter-side resize: 342 < 2 * 256
        assert!(vertical_first((500, 1500), (224, 672))); // but a tall one: 828 > 2 * 276
    }

    #[test]
    fn vertical_first_window_equals_crop_of_full_resize() {
        let (w, h) = (150u32, 700u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(vertical_first((w, h), (100, 466)));
        let full = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (100, 466), (0, 0, 100, 466), None).unwrap();
        let window = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (100, 466), (10, 121, 64, 64), None).unwrap();
        let cropped: Vec<u8> =
            (121..121 + 64).flat_map(|y| full[(y * 100 + 10) * 3..(y * 100 + 10 + 64) * 3].to_vec()).collect();
        assert_eq!(window, cropped);
    }

    #[test]
    fn window_equals_crop_of_full_resize() {
        let (w, h) = (150u32, 310u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        let full = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (224, 462), (0, 0, 224, 462), None).unwrap();
        let window = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (224, 462), (0, 119, 224, 224), None).unwrap();
        let cropped: Vec<u8> = full[119 * 224 * 3..(119 + 224) * 224 * 3].to_vec();
        assert_eq!(window, cropped);
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    /// The most [`plan`] asks for over source shapes at the pixel limit `pixels`
    /// (every side at most 2^20), for both recipes at input side `size`.
    fn worst_plan(pixels: u64, size: u32) -> (u64, String) {
        let mut worst = (0, String::new());
        let mut width = 1f64;
        while width <= f64::from(1u32 << 20) {
            let w = width as u32;
            let tallest = (pixels / u64::from(w)).min(1 << 20) as u32;
            for h in [tallest, tallest / 2 + 1, (tallest / 7).max(1), w.min(tallest)] {
                let s = u64::from(size);
                let (rw, rh) =
                    if w <= h { (s, s * u64::from(h) / u64::from(w)) } else { (s * u64::from(w) / u64::from(h), s) };
                let mut recipes = vec![((size, size), (0, 0))];
                if rw * rh <= pixels {
                    let (rw, rh) = (rw as u32, rh as u32);
                    recipes.push(((rw, rh), ((rw - size) / 2, (rh - size) / 2)));
                }
                for ((ow, oh), (left, top)) in recipes {
                    for filter in [Filter::Bicubic, Filter::Bilinear] {
                        let plan = plan(filter, 3, (w, h), (ow, oh), (left, top, size, size)).unwrap();
                        if plan.bytes > worst.0 {
                            worst = (plan.bytes, format!("{w}x{h} -> {ow}x{oh}, {plan:?}"));
                        }
                    }
                }
            }
            width *= 1.07;
        }
        worst
    }

    #[test]
    fn resampling_buffers_stay_within_the_documented_bound() {
        let (defaults, shape) = worst_plan(89_478_485, 224);
        println!("defaults: {defaults} bytes at {shape}");
        assert!(defaults <= 18_000_000, "{defaults} at {shape}");
        for size in [224, 336, 384, 512] {
            let (opencv_max, shape) = worst_plan(1 << 30, size);
            println!("P = 2^30, S = {size}: {opencv_max} bytes at {shape}");
            assert!(opencv_max <= 75_000_000, "{opencv_max} at {shape}");
        }
    }

    #[test]
    fn the_squash_of_the_widest_image_needs_weights_for_the_window_only() {
        // 2^20 x 85 squashed to 224: 18,727 taps for each of the 224 outputs.
        let plan = plan(Filter::Bicubic, 3, (1 << 20, 85), (224, 224), (0, 0, 224, 224)).unwrap();
        assert!(plan.bytes < 24_000_000, "{plan:?}");
        let error = super::plan(Filter::Bicubic, 3, (1 << 20, 1 << 20), (1 << 20, 1 << 20), (0, 0, 1 << 20, 1 << 20))
            .unwrap_err();
        assert!(matches!(error, Error::LimitExceeded(_)), "{error}");
        assert!(error.to_string().contains("over the resampler's limit of 268435456"), "{error}");
    }
}
