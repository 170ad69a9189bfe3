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

/// Pillow's `PRECISION_BITS` for 8-bit images: 32 - 8 - 2.
const PRECISION_BITS: u32 = 22;

/// A resampling filter of PIL's, as model families name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BICUBIC` (3): OpenAI's, Hugging Face's and most open_clip configs'.
    Bicubic,
    /// `Image.BILINEAR` (2): some open_clip configs (`"interpolation": "bilinear"`).
    Bilinear,
}

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

/// Fixed-point weights for one axis: for output index i, taps
/// `weights[i*ksize .. i*ksize + count[i]]` apply to source `first[i]..`.
struct Axis {
    ksize: usize,
    first: Vec<usize>,
    count: Vec<usize>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for resizing
/// `in_size` to `out_size`.
fn precompute(filter: Filter, in_size: u32, out_size: u32) -> Axis {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let out = out_size as usize;
    let mut first = Vec::with_capacity(out);
    let mut count = Vec::with_capacity(out);
    let mut weights = vec![0i32; out * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) casts truncate toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size)) - xmin;
        let taps = xmax.max(0) as usize;
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate().take(taps) {
            *w = filter.weight(((x as i64 + xmin) as f64 - center + 0.5) * ss);
            total += *w;
        }
        for (x, w) in k.iter().enumerate().take(taps) {
            let w = if total != 0.0 { w / total } else { *w };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if w < 0.0 { (-0.5 + fixed) as i32 } else { (0.5 + fixed) as i32 };
        }
        first.push(xmin as usize);
        count.push(taps);
    }
    Axis { ksize, first, count, weights }
}

/// One row of the horizontal pass for `C` interleaved channels, output
/// columns `left..left + dst.len() / C`. Pillow's INT32 accumulators: the
/// bicubic weights' positive sum (< 1.2) keeps 255 * 2^22 * it below 2^31, so
/// wrapping arithmetic never wraps; it only spares overflow checks.
/// `src` holds source columns from `src_first` on.
fn horizontal_row<const C: usize>(src: &[u8], src_first: usize, dst: &mut [u8], axis: &Axis, left: usize) {
    for (x, out) in dst.chunks_exact_mut(C).enumerate() {
        let xx = left + x;
        let taps = &axis.weights[xx * axis.ksize..xx * axis.ksize + axis.count[xx]];
        let start = (axis.first[xx] - src_first) * C;
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

/// Resizes an interleaved 8-bit image of `channels` channels from
/// `width`x`height` to `out_width`x`out_height` as PIL's `resize` with
/// `filter` does, and returns only the window of `window` (left, top, width,
/// height) of the result.
pub fn resize_window(
    pixels: &[u8],
    channels: usize,
    filter: Filter,
    (width, height): (u32, u32),
    (out_width, out_height): (u32, u32),
    (left, top, window_width, window_height): (u32, u32, u32, u32),
) -> Vec<u8> {
    let need_horizontal = out_width != width;
    let need_vertical = out_height != height;
    let horizontal = precompute(filter, width, out_width);
    let vertical = precompute(filter, height, out_height);
    let (left, top, ww, wh) = (left as usize, top as usize, window_width as usize, window_height as usize);

    if need_vertical && need_horizontal && vertical_first((width, height), (out_width, out_height)) {
        return vertical_then_horizontal(
            pixels,
            channels,
            width as usize,
            (&horizontal, &vertical),
            (left, top, ww, wh),
        );
    }

    // Source rows the vertical pass reads for the window's output rows.
    let (row_first, row_last) = if need_vertical {
        let first = vertical.first[top];
        let last = (top..top + wh).map(|y| vertical.first[y] + vertical.count[y]).max().unwrap_or(first);
        (first, last)
    } else {
        (top, top + wh)
    };

    // Horizontal pass over the rows needed, window columns only.
    let src_stride = width as usize * channels;
    let mid_rows = row_last - row_first;
    let mut mid = vec![0u8; mid_rows * ww * channels];
    for (r, row) in (row_first..row_last).enumerate() {
        let src = &pixels[row * src_stride..(row + 1) * src_stride];
        let dst = &mut mid[r * ww * channels..(r + 1) * ww * channels];
        if !need_horizontal {
            dst.copy_from_slice(&src[left * channels..(left + ww) * channels]);
            continue;
        }
        match channels {
            3 => horizontal_row::<3>(src, 0, dst, &horizontal, left),
            _ => horizontal_row::<4>(src, 0, dst, &horizontal, left),
        }
    }
    if !need_vertical {
        return mid;
    }
    vertical_pass(&mid, ww * channels, row_first, &vertical, top, wh)
}

/// The vertical pass for output rows `top..top + rows`, over an image of
/// `stride` bytes per row whose first row is source row `row_first`.
fn vertical_pass(mid: &[u8], stride: usize, row_first: usize, vertical: &Axis, top: usize, rows: usize) -> Vec<u8> {
    let mut out = vec![0u8; rows * stride];
    let mut sums = vec![0i32; stride];
    for y in 0..rows {
        let yy = top + y;
        let taps = &vertical.weights[yy * vertical.ksize..yy * vertical.ksize + vertical.count[yy]];
        let start = vertical.first[yy] - row_first;
        sums.iter_mut().for_each(|s| *s = 1 << (PRECISION_BITS - 1));
        for (t, &w) in taps.iter().enumerate() {
            let row = &mid[(start + t) * stride..(start + t + 1) * stride];
            for (s, &v) in sums.iter_mut().zip(row) {
                *s = s.wrapping_add(i32::from(v).wrapping_mul(w));
            }
        }
        for (o, &s) in out[y * stride..(y + 1) * stride].iter_mut().zip(&sums) {
            *o = clip8(s);
        }
    }
    out
}

/// Pillow 13's vertical-first order ([`vertical_first`]): the vertical pass
/// over the source columns the window's horizontal taps read, then the
/// horizontal pass over that 8-bit intermediate.
fn vertical_then_horizontal(
    pixels: &[u8],
    channels: usize,
    width: usize,
    (horizontal, vertical): (&Axis, &Axis),
    (left, top, ww, wh): (usize, usize, usize, usize),
) -> Vec<u8> {
    let col_first = horizontal.first[left];
    let col_last = (left..left + ww).map(|x| horizontal.first[x] + horizontal.count[x]).max().unwrap_or(col_first);
    let cols = col_last - col_first;
    // The source's columns col_first..col_last as an image of their own.
    let src_stride = width * channels;
    let mut columns = Vec::with_capacity(pixels.len() / width.max(1) * cols * channels);
    for row in pixels.chunks_exact(src_stride) {
        columns.extend_from_slice(&row[col_first * channels..col_last * channels]);
    }
    let mid = vertical_pass(&columns, cols * channels, 0, vertical, top, wh);
    let mut out = vec![0u8; wh * ww * channels];
    for (src, dst) in mid.chunks_exact(cols * channels).zip(out.chunks_exact_mut(ww * channels)) {
        match channels {
            3 => horizontal_row::<3>(src, col_first, dst, horizontal, left),
            _ => horizontal_row::<4>(src, col_first, dst, horizontal, left),
        }
    }
    out
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
            let axis = precompute(filter, from, to);
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
        let out = resize_window(&pixels, 3, Filter::Bilinear, (50, 30), (37, 22), (0, 0, 37, 22));
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
        let full = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (100, 466), (0, 0, 100, 466));
        let window = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (100, 466), (10, 121, 64, 64));
        let cropped: Vec<u8> =
            (121..121 + 64).flat_map(|y| full[(y * 100 + 10) * 3..(y * 100 + 10 + 64) * 3].to_vec()).collect();
        assert_eq!(window, cropped);
    }

    #[test]
    fn window_equals_crop_of_full_resize() {
        let (w, h) = (150u32, 310u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        let full = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (224, 462), (0, 0, 224, 462));
        let window = resize_window(&pixels, 3, Filter::Bicubic, (w, h), (224, 462), (0, 119, 224, 224));
        let cropped: Vec<u8> = full[119 * 224 * 3..(119 + 224) * 224 * 3].to_vec();
        assert_eq!(window, cropped);
    }
}
