//! The limits every decoder checks before it allocates, and preprocessing
//! after it (the resize's intermediate image): the settings' [`ImageLimits`],
//! OpenCV's own limits, and the bytes a decoder may take.

use crate::error::{Error, Result};

/// Limits that stop decompression bombs before they allocate.
///
/// With P = `max_pixels` and B = `max_bytes`, one image's preprocessing
/// allocates at most 12 P + 64 MiB for decoding (the widest decoder layouts:
/// a progressive 4:4:4 CMYK JPEG's output and coefficients, a single-strip
/// 16-bit RGBA TIFF's raster and strip; see [`crate::image::decode::decode_rgb`]),
/// 6 P while an Exif rotation copies the RGB image, and at most 17.1 MB in the
/// resampler at S = 224 ([`crate::image::pil_resample::RESAMPLE_MAX_BYTES`]), besides
/// the B bytes of input: ~1.2 GiB at the defaults (12 x 89,478,485 bytes =
/// 1.0 GiB, and 64 MiB, 17 MB and 50 MiB). Measured peaks (maximum RSS of a
/// process decoding and preprocessing one image, 10000x8947 or 9400x9400):
/// 1.08 GB for a progressive 4:4:4 CMYK JPEG (the worst case), 0.87 GB for a
/// progressive 4:4:4 photo, 0.71 GB for a 16-bit RGBA PNG (0.98 GB before the
/// in-place conversion), 0.34 GB for a baseline 4:4:4 photo. Every size is
/// checked in u64 before the buffer is made; OpenCV's own limits (2^20 per
/// side, 2^30 pixels) apply on top.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: usize,
    /// Largest decoded image accepted, in pixels (width x height); also bounds
    /// the intermediate image of the shorter-side resize.
    pub max_pixels: u64,
}

impl ImageLimits {
    /// The settings' defaults: 50 MiB encoded, and PIL's `MAX_IMAGE_PIXELS`
    /// (89,478,485) decoded.
    pub const DEFAULT: ImageLimits = ImageLimits { max_bytes: 50 << 20, max_pixels: 89_478_485 };
}

/// OpenCV's `CV_IO_MAX_IMAGE_WIDTH` and `CV_IO_MAX_IMAGE_HEIGHT` (4.10,
/// `validateInputImageSize` in modules/imgcodecs/src/loadsave.cpp): the
/// reference refuses an image wider or taller than this, so we do too, as a
/// limit (54000). It also bounds what a side can cost: the resampler's weights
/// and the decoders' row buffers grow with it.
pub const OPENCV_MAX_SIDE: u32 = 1 << 20;

/// OpenCV's `CV_IO_MAX_IMAGE_PIXELS`; only reachable where
/// `clip_embed.max_image_pixels` is set above it.
pub const OPENCV_MAX_PIXELS: u64 = 1 << 30;

/// The most a decoder's own buffers may take per pixel of
/// `clip_embed.max_image_pixels`: 12 bytes, what libjpeg needs for a
/// progressive 4:4:4 CMYK JPEG (4 bytes of output, 8 of coefficients) and
/// libtiff for a single-strip 16-bit RGBA TIFF (4 bytes of raster, 8 of strip).
pub const DECODE_BYTES_PER_PIXEL: u64 = 12;

/// Room above [`DECODE_BYTES_PER_PIXEL`] for what does not grow with the pixel
/// count: row and strip buffers, tables, block padding of thin images.
pub const DECODE_SLACK_BYTES: u64 = 64 << 20;

/// The most the decoder's output buffer may take per pixel of the pixel limit:
/// 16-bit RGBA, the widest integer layout. A float TIFF (12 or 16 bytes per
/// pixel) is refused above 2/3 or 1/2 of the limit.
pub const OUTPUT_BYTES_PER_PIXEL: u64 = 8;

/// The bytes one image's decoding may allocate: [`DECODE_BYTES_PER_PIXEL`] per
/// pixel of the limit plus [`DECODE_SLACK_BYTES`]: 1,140,850,684 bytes
/// (1.06 GiB) at the default 89,478,485 pixels.
pub fn decode_budget(limits: &ImageLimits) -> u64 {
    limits.max_pixels.saturating_mul(DECODE_BYTES_PER_PIXEL).saturating_add(DECODE_SLACK_BYTES)
}

/// Refuses a decode whose buffers (`what`, `bytes` of them) are over [`decode_budget`].
pub(crate) fn check_decode_bytes(width: u32, height: u32, what: &str, bytes: u64, limits: &ImageLimits) -> Result<()> {
    let budget = decode_budget(limits);
    if bytes > budget {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels needs {bytes} bytes of {what}, over the decoding limit of {budget} bytes \
             ({DECODE_BYTES_PER_PIXEL} per pixel of clip_embed.max_image_pixels)"
        )));
    }
    Ok(())
}

/// The pixel limits every decoder path checks before it allocates pixels:
/// OpenCV's own ([`OPENCV_MAX_SIDE`], [`OPENCV_MAX_PIXELS`]), then
/// `clip_embed.max_image_pixels`.
pub(crate) fn check_pixels(width: u32, height: u32, limits: &ImageLimits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidImage(format!("image has no pixels ({width}x{height})")));
    }
    if width > OPENCV_MAX_SIDE || height > OPENCV_MAX_SIDE {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels is over OpenCV's limit of {OPENCV_MAX_SIDE} pixels per side \
             (CV_IO_MAX_IMAGE_WIDTH, CV_IO_MAX_IMAGE_HEIGHT)"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > OPENCV_MAX_PIXELS {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels is over OpenCV's limit of {OPENCV_MAX_PIXELS} pixels \
             (CV_IO_MAX_IMAGE_PIXELS)"
        )));
    }
    if pixels > limits.max_pixels {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels is over clip_embed.max_image_pixels ({})",
            limits.max_pixels
        )));
    }
    Ok(())
}
