//! Image bytes to an upright 8-bit RGB image, as the seed decodes them.
//!
//! Roboflow Inference's `load_image_rgb` runs `cv2.imdecode(bytes,
//! cv2.IMREAD_COLOR)` (opencv-python 4.10.0.84), converts BGR to RGB and only
//! then applies OpenAI's transform. `IMREAD_COLOR` means, measured against
//! that build (tools/clip_reference.py is the reference):
//! * EXIF orientation is applied for JPEG (APP1), PNG (eXIf) and TIFF, not for WebP;
//! * alpha is dropped without compositing, palettes and greyscale expand to RGB;
//! * 16-bit PNG samples keep their high byte (libpng's `strip_16`);
//! * TIFF goes through libtiff's RGBA interface: unassociated alpha is
//!   premultiplied (`(c * a + 127) / 255`) before it is dropped, 16-bit RGB
//!   rounds (`(v * 255 + 32767) / 65535`), 16-bit grey keeps the high byte;
//! * CMYK JPEGs convert with OpenCV's own formula on libjpeg's raw samples;
//! * libjpeg's warnings ("extraneous bytes before marker", a truncated scan)
//!   do not stop decoding.
//!
//! GIF, which OpenCV 4.10 cannot read, decodes to its first frame in RGB here
//! (the reference falls back to PIL's `convert("RGB")` for it).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::preprocess::ImageLimits;

mod jpeg;
mod libtiff;

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
    // `image` does not know BigTIFF's signature (version 43 instead of 42).
    let bigtiff = bytes.starts_with(b"II\x2b\x00") || bytes.starts_with(b"MM\x00\x2b");
    let format =
        image::guess_format(bytes).or(if bigtiff { Ok(ImageFormat::Tiff) } else { Err(()) }).map_err(|_| {
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

/// Decodes `bytes` to an upright 8-bit RGB image as `cv2.imdecode(..., IMREAD_COLOR)` does.
pub fn decode_rgb(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    // The decoders are third-party code fed untrusted bytes: a panic in one is
    // an invalid image, not a crash of the query with an internal error.
    std::panic::catch_unwind(|| decode_unguarded(bytes, limits))
        .unwrap_or_else(|_| Err(Error::InvalidImage("image decoder failed on malformed data".into())))
}

fn decode_unguarded(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    let format = check_encoded(bytes, limits)?;
    let (image, orientation) = if format == ImageFormat::Jpeg {
        // libjpeg decodes files that zune-jpeg refuses; the orientation is read
        // from the headers where they parse (OpenCV reads the first Exif APP1).
        let orientation = decoder(bytes, format, limits).and_then(|mut d| d.orientation()).ok();
        (jpeg::decode(bytes, limits)?, orientation)
    } else {
        match decode_with_image(bytes, format, limits) {
            // What the memory-safe decoder cannot read, libtiff may: OpenCV's own TIFF reader.
            Err(Error::InvalidImage(why)) if format == ImageFormat::Tiff => {
                let (image, stored) = libtiff::decode(bytes, limits)
                    .map_err(|libtiff_error| Error::InvalidImage(format!("{why}; and libtiff: {libtiff_error}")))?;
                (image, Orientation::from_exif(stored.clamp(1, 8) as u8))
            }
            other => other?,
        }
    };
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation.unwrap_or(Orientation::NoTransforms));
    Ok(image.into_rgb8())
}

/// Every format but JPEG, through the `image` crate's memory-safe decoders.
fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<(RgbImage, Option<Orientation>)> {
    let mut decoder = decoder(bytes, format, limits).map_err(|e| corrupt(format, e))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    let orientation = match format {
        ImageFormat::Png | ImageFormat::Tiff => decoder.orientation().ok(),
        _ => None, // OpenCV 4.10 ignores WebP's Exif; BMP and GIF have none
    };
    let image = DynamicImage::from_decoder(decoder).map_err(|e| corrupt(format, e))?;
    Ok((to_rgb_like_opencv(image, format), orientation))
}

fn decoder<'a>(
    bytes: &'a [u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> image::ImageResult<impl ImageDecoder + 'a> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    // 16-bit RGBA is the widest layout a decoder allocates, plus the conversions' copies.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(decoder_limits);
    reader.into_decoder()
}

fn corrupt(format: ImageFormat, e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => Error::LimitExceeded(format!("image exceeds a decoding limit: {e}")),
        _ => Error::InvalidImage(format!("could not decode {format:?} image: {e}")),
    }
}

fn check_pixels(width: u32, height: u32, limits: &ImageLimits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidImage(format!("image has no pixels ({width}x{height})")));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels is over clip_embed.max_image_pixels ({})",
            limits.max_pixels
        )));
    }
    Ok(())
}

/// A decoded image in 8-bit RGB the way OpenCV's `IMREAD_COLOR` makes it.
fn to_rgb_like_opencv(image: DynamicImage, format: ImageFormat) -> RgbImage {
    let (width, height) = (image.width(), image.height());
    let tiff = format == ImageFormat::Tiff;
    let rgb = |pixels: Vec<u8>| RgbImage::from_raw(width, height, pixels).expect("3 bytes per pixel");
    match image {
        DynamicImage::ImageRgb8(img) => img,
        DynamicImage::ImageRgba8(img) if tiff => {
            rgb(img.pixels().flat_map(|p| premultiply_like_libtiff([p[0], p[1], p[2]], p[3])).collect())
        }
        DynamicImage::ImageRgba8(img) => rgb(img.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect()),
        DynamicImage::ImageLuma8(img) => rgb(img.into_raw().into_iter().flat_map(|v| [v; 3]).collect()),
        DynamicImage::ImageLumaA8(img) => rgb(img.pixels().flat_map(|p| [p[0]; 3]).collect()),
        DynamicImage::ImageLuma16(img) => rgb(img.into_raw().into_iter().flat_map(|v| [high_byte(v); 3]).collect()),
        DynamicImage::ImageLumaA16(img) => rgb(img.pixels().flat_map(|p| [high_byte(p[0]); 3]).collect()),
        DynamicImage::ImageRgb16(img) if tiff => {
            rgb(img.into_raw().into_iter().map(round_16_to_8_like_libtiff).collect())
        }
        DynamicImage::ImageRgb16(img) => rgb(img.into_raw().into_iter().map(high_byte).collect()),
        DynamicImage::ImageRgba16(img) if tiff => rgb(img
            .pixels()
            .flat_map(|p| {
                let [r, g, b, a] = p.0.map(round_16_to_8_like_libtiff);
                premultiply_like_libtiff([r, g, b], a)
            })
            .collect()),
        DynamicImage::ImageRgba16(img) => rgb(img.pixels().flat_map(|p| [p[0], p[1], p[2]].map(high_byte)).collect()),
        other => other.into_rgb8(), // 32-bit float TIFFs: rare; image's own conversion
    }
}

/// libpng's `png_set_strip_16`, which OpenCV asks for: the high byte.
fn high_byte(v: u16) -> u8 {
    (v >> 8) as u8
}

/// libtiff's `Bitdepth16To8` table: 16 to 8 bits rounded.
fn round_16_to_8_like_libtiff(v: u16) -> u8 {
    ((u32::from(v) * 255 + 32767) / 65535) as u8
}

/// libtiff's RGBA interface stores unassociated alpha premultiplied
/// (`UaToAa`: `(c * a + 127) / 255`); OpenCV then drops the alpha.
fn premultiply_like_libtiff(rgb: [u8; 3], alpha: u8) -> [u8; 3] {
    rgb.map(|c| ((u32::from(c) * u32::from(alpha) + 127) / 255) as u8)
}
