//! The limits every decoder checks before it allocates; decoding owns them
//! (preprocessing reads them), so nothing in `decode` imports `preprocess`.

/// Limits that stop decompression bombs before they allocate.
///
/// With P = `max_pixels` and B = `max_bytes`, one image's preprocessing
/// allocates at most 12 P + 64 MiB for decoding (the widest decoder layouts:
/// a progressive 4:4:4 CMYK JPEG's output and coefficients, a single-strip
/// 16-bit RGBA TIFF's raster and strip; see [`crate::decode::decode_rgb`]),
/// 6 P while an Exif rotation copies the RGB image, and at most 17.1 MB in the
/// resampler at S = 224 ([`crate::pil_resample::RESAMPLE_MAX_BYTES`]), besides
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
