//! CLIP image preprocessing, as OpenAI's `clip.load(...)[1]` (`_transform`) does it:
//! `Resize(S, BICUBIC)` of the shorter side, `CenterCrop(S)`, `convert("RGB")`,
//! `ToTensor()`, `Normalize(mean, std)`, laid out NCHW.
//!
//! The reference runs on PIL images, and PIL's resize depends on the image's
//! mode, which we reproduce because parity is the point:
//! * palette and 1-bit images ("P", "1") are resized with NEAREST whatever
//!   filter is asked for, then converted to RGB;
//! * images with alpha are resized premultiplied ("RGBa"), then the alpha is dropped;
//! * 16-bit RGB(A) and grey+alpha are read as their high byte, as PIL's
//!   "RGB;16B"/"LA;16B" raw modes do; 16-bit grey opens as "I;16", resizes at
//!   16 bits, and its conversion to RGB clips every value to 255 (such images
//!   come out nearly white in the reference, and so here);
//! * EXIF orientation is not applied (PIL's `Image.open` does not either).
//!
//! Bicubic is a port of Pillow's own resampler ([`crate::pil_resample`]), so
//! lossless images give the reference's bytes exactly.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::error::{Error, Result};
use crate::pil_resample::{resize_bicubic_window, resize_bicubic_window_16};

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

/// The resampling PIL would use for an image of this mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resample {
    Nearest,
    Bicubic,
}

/// A decoded image in the form PIL would resize it: RGB, or RGBA premultiplied during the resize.
struct Decoded {
    width: u32,
    height: u32,
    has_alpha: bool,
    pixels: Vec<u8>,
    resample: Resample,
    /// 16-bit greyscale, which PIL opens as "I;16" and resizes at 16 bits.
    grey16: Option<Vec<u16>>,
}

/// Decodes `bytes` and returns the `[3, S, S]` normalised tensor (CHW, f32).
pub fn preprocess(bytes: &[u8], spec: &PixelSpec, limits: &ImageLimits) -> Result<Vec<f32>> {
    // The decoders are third-party code fed untrusted bytes: a panic in one is
    // an invalid image, not a crash of the query with an internal error.
    let decoded = std::panic::catch_unwind(|| decode(bytes, limits))
        .unwrap_or_else(|_| Err(Error::InvalidImage("image decoder failed on malformed data".into())))?;
    let size = spec.image_size;
    let (resized_w, resized_h) = shorter_side_resize(decoded.width, decoded.height, size);
    if u64::from(resized_w) * u64::from(resized_h) > limits.max_pixels {
        return Err(Error::LimitExceeded(format!(
            "image of {}x{} pixels would resize to {resized_w}x{resized_h}, over clip_embed.max_image_pixels ({})",
            decoded.width, decoded.height, limits.max_pixels
        )));
    }
    let channels = if decoded.has_alpha { 4 } else { 3 };
    // torchvision CenterCrop: int(round((h - S) / 2.0)), Python's round-half-even.
    let top = round_half_even_half(resized_h - size);
    let left = round_half_even_half(resized_w - size);
    let window = resize_window(decoded, (resized_w, resized_h), (left, top, size));
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    // ToTensor then Normalize, in f32 and in the reference's order of operations.
    for (i, px) in window.chunks_exact(channels).enumerate() {
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

/// The `size`x`size` window at (left, top) of the image resized to `resized`,
/// as PIL would resize it: NEAREST for palette images, else BICUBIC
/// (premultiplied when there is alpha). A same-size resize is a no-op in PIL.
fn resize_window(decoded: Decoded, resized: (u32, u32), (left, top, size): (u32, u32, u32)) -> Vec<u8> {
    let channels = if decoded.has_alpha { 4 } else { 3 };
    let window = (left, top, size, size);
    if let Some(grey16) = &decoded.grey16 {
        // Resized at 16 bits, then PIL's "I;16" -> RGB clips every value to
        // 255: such images come out (nearly) white in the reference, and here.
        let values = resize_bicubic_window_16(grey16, (decoded.width, decoded.height), resized, window);
        return values.iter().flat_map(|&v| [v.min(255) as u8; 3]).collect();
    }
    if decoded.resample == Resample::Nearest && resized != (decoded.width, decoded.height) {
        return resize_nearest_window_like_pil(&decoded, channels, resized, window);
    }
    let mut pixels = decoded.pixels;
    if decoded.has_alpha {
        premultiply_like_pil(&mut pixels);
    }
    let mut out = resize_bicubic_window(&pixels, channels, (decoded.width, decoded.height), resized, window);
    if decoded.has_alpha {
        unpremultiply_like_pil(&mut out);
    }
    out
}

/// PIL's NEAREST resize (`ImagingScaleAffine`), window only: source
/// coordinates accumulate in f64 from half a step and are truncated; the
/// accumulation decides ties exactly as PIL does.
fn resize_nearest_window_like_pil(
    decoded: &Decoded,
    channels: usize,
    (width, height): (u32, u32),
    (left, top, window_width, window_height): (u32, u32, u32, u32),
) -> Vec<u8> {
    let source_indices = |from: u32, to: u32| {
        let step = f64::from(from) / f64::from(to);
        let mut at = step * 0.5;
        (0..to)
            .map(|_| {
                let index = (at as usize).min(from as usize - 1);
                at += step;
                index
            })
            .collect::<Vec<usize>>()
    };
    let xs = source_indices(decoded.width, width);
    let ys = source_indices(decoded.height, height);
    let row_len = decoded.width as usize * channels;
    let mut out = Vec::with_capacity(window_width as usize * window_height as usize * channels);
    for &y in &ys[top as usize..(top + window_height) as usize] {
        let row = &decoded.pixels[y * row_len..(y + 1) * row_len];
        for &x in &xs[left as usize..(left + window_width) as usize] {
            out.extend_from_slice(&row[x * channels..(x + 1) * channels]);
        }
    }
    out
}

/// PIL's RGBA -> "RGBa": `MULDIV255(v, a)` with rounding.
fn premultiply_like_pil(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(px[3]);
        for v in &mut px[..3] {
            let t = u32::from(*v) * alpha + 128;
            *v = ((t + (t >> 8)) >> 8) as u8;
        }
    }
}

/// PIL's "RGBa" -> RGBA: `255 * v / a` truncated and clipped; alpha 0 and 255 leave v as is.
fn unpremultiply_like_pil(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(px[3]);
        if alpha != 0 && alpha != 255 {
            for v in &mut px[..3] {
                *v = (255 * u32::from(*v) / alpha).min(255) as u8;
            }
        }
    }
}

/// The checks that need no decoding: empty input, the byte limit and a format
/// we take. Run before a model loads, so bad bytes never cost a session.
pub fn check_encoded(bytes: &[u8], limits: &ImageLimits) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::InvalidImage("image is empty".into()));
    }
    if bytes.len() > limits.max_bytes {
        return Err(Error::LimitExceeded(format!(
            "image of {} bytes is over clip_embed.max_image_bytes ({})",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        Error::InvalidImage("unrecognized image format (expected JPEG, PNG, WebP, GIF, BMP or TIFF)".into())
    })?;
    if !matches!(
        format,
        ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff
    ) {
        return Err(Error::InvalidImage(format!("unsupported image format {format:?}")));
    }
    Ok(format)
}

fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<Decoded> {
    let format = check_encoded(bytes, limits)?;
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => Error::LimitExceeded(format!("image exceeds a decoding limit: {e}")),
        _ => Error::InvalidImage(format!("could not decode {format:?} image: {e}")),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    // 16-bit RGBA is the widest layout a decoder allocates, plus the conversions' copies.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::InvalidImage(format!("image has no pixels ({width}x{height})")));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels is over clip_embed.max_image_pixels ({})",
            limits.max_pixels
        )));
    }
    if format == ImageFormat::Jpeg {
        if let Some(pixels) = decode_colour_jpeg_like_pil(bytes, width, height)? {
            return Ok(Decoded { width, height, has_alpha: false, pixels, resample: Resample::Bicubic, grey16: None });
        }
    }
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let resample = if is_palette_or_bilevel(bytes, format) { Resample::Nearest } else { Resample::Bicubic };
    // PIL's "P" images convert to RGB ignoring transparency.
    let keep_alpha = image.color().has_alpha() && resample == Resample::Bicubic;
    if let DynamicImage::ImageLuma16(img) = image {
        let grey16 = Some(img.into_raw());
        return Ok(Decoded {
            width,
            height,
            has_alpha: false,
            pixels: Vec::new(),
            resample: Resample::Bicubic,
            grey16,
        });
    }
    let pixels = match (image, keep_alpha) {
        (DynamicImage::ImageLumaA16(img), true) => img
            .as_raw()
            .chunks_exact(2)
            .flat_map(|p| [(p[0] >> 8) as u8, (p[0] >> 8) as u8, (p[0] >> 8) as u8, (p[1] >> 8) as u8])
            .collect(),
        (DynamicImage::ImageLumaA16(img), false) => {
            img.as_raw().chunks_exact(2).flat_map(|p| [(p[0] >> 8) as u8; 3]).collect()
        }
        (DynamicImage::ImageRgb16(img), _) => high_bytes(img.as_raw(), 3, 3),
        (DynamicImage::ImageRgba16(img), true) => high_bytes(img.as_raw(), 4, 4),
        (DynamicImage::ImageRgba16(img), false) => high_bytes(img.as_raw(), 4, 3),
        // into_*: no copy when the decoder already produced 8-bit RGB(A).
        (other, true) => other.into_rgba8().into_raw(),
        (other, false) => other.into_rgb8().into_raw(),
    };
    Ok(Decoded { width, height, has_alpha: keep_alpha, pixels, resample, grey16: None })
}

/// Colour (YCbCr or RGB) JPEGs through libjpeg-turbo, PIL's own decoder, with
/// its defaults (accurate integer IDCT, "fancy" triangle chroma upsampling), so
/// the pixels are the reference's. zune-jpeg's IDCT agrees but its 4:2:0
/// upsampling rounds after each pass: up to 2 levels off, which moved a trained
/// model's embedding to cosine 0.998. Greyscale and CMYK stay with zune-jpeg
/// (measured identical); `None` hands them back.
fn decode_colour_jpeg_like_pil(bytes: &[u8], width: u32, height: u32) -> Result<Option<Vec<u8>>> {
    let invalid = |e: turbojpeg::Error| Error::InvalidImage(format!("could not decode Jpeg image: {e}"));
    let mut decompressor = turbojpeg::Decompressor::new().map_err(invalid)?;
    let header = decompressor.read_header(bytes).map_err(invalid)?;
    if !matches!(header.colorspace, turbojpeg::Colorspace::YCbCr | turbojpeg::Colorspace::RGB)
        || (header.width, header.height) != (width as usize, height as usize)
    {
        return Ok(None);
    }
    let pitch = header.width * 3;
    let mut pixels = vec![0u8; pitch * header.height];
    let image = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: header.width,
        pitch,
        height: header.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    decompressor.decompress(bytes, image).map_err(invalid)?;
    Ok(Some(pixels))
}

/// PIL reads 16-bit RGB(A) PNGs as 8-bit by keeping each sample's high byte.
fn high_bytes(samples: &[u16], channels_in: usize, channels_out: usize) -> Vec<u8> {
    samples.chunks_exact(channels_in).flat_map(|px| px[..channels_out].iter().map(|&v| (v >> 8) as u8)).collect()
}

/// Whether PIL would open this image in mode "P" or "1", which it always
/// resizes with NEAREST. Read from the headers, since decoders expand palettes.
fn is_palette_or_bilevel(bytes: &[u8], format: ImageFormat) -> bool {
    match format {
        // IHDR: bit depth at byte 24, colour type at 25 (3 = palette, 0 = grey).
        ImageFormat::Png => bytes.len() > 25 && (bytes[25] == 3 || (bytes[25] == 0 && bytes[24] == 1)),
        ImageFormat::Gif => true,
        ImageFormat::Bmp => bmp_is_palette(bytes),
        _ => false,
    }
}

/// BMPs of 8 bits or fewer per pixel carry a colour table and open as "P",
/// unless the table is the identity grey ramp (i, i, i), which PIL opens as "L".
fn bmp_is_palette(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (Some(header_size), Some(bits)) = (u32_at(14), u16_at(28)) else {
        return false;
    };
    if bits > 8 || header_size < 40 {
        return bits <= 8;
    }
    let colours = match u32_at(46) {
        Some(0) | None => 1usize << bits,
        Some(n) => n as usize,
    };
    if colours == 2 {
        return true; // PIL: mode "1" or "P", NEAREST either way
    }
    let table = 14 + header_size as usize;
    let identity_grey = (0..colours).all(|i| {
        bytes.get(table + 4 * i..table + 4 * i + 3).is_some_and(|bgr| bgr.iter().all(|&v| usize::from(v) == i))
    });
    !identity_grey
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
