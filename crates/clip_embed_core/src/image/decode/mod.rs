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
//!   premultiplied (`(c * a + 127) / 255`) before it is dropped (associated
//!   and unspecified alpha are dropped as they are), 16-bit RGB
//!   rounds (`(v * 255 + 32767) / 65535`), 16-bit grey keeps the high byte;
//! * CMYK JPEGs convert with OpenCV's own formula on libjpeg's raw samples;
//! * libjpeg's warnings ("extraneous bytes before marker", a truncated scan)
//!   do not stop decoding.
//!
//! GIF, which OpenCV 4.10 cannot read, decodes to its first frame in RGB here
//! (the reference falls back to PIL's `convert("RGB")` for it).

use std::cell::Cell;
use std::io::{self, BufRead, Read, Seek, SeekFrom};

use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::cancel::{poll, CancelCheck};
use crate::error::{Error, Result};

pub use crate::image::limits::ImageLimits;
use crate::image::limits::{check_pixels, decode_budget, OUTPUT_BYTES_PER_PIXEL};

mod bmp;
pub mod jpeg;
mod libtiff;

/// How often, in bytes of input, the memory-safe decoders' reads poll for a
/// cancel: 64 KiB. Deflate expands at most 1032:1, so a PNG decoder does at
/// most ~66 MB of inflating between two polls (~75 ms here: a 9400x9400 16-bit
/// RGBA PNG, 707 MB decoded, took 0.78 s); the other formats do less per
/// input byte.
const POLL_BYTES: u64 = 64 << 10;

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
///
/// Memory, for one image of at most P = `clip_embed.max_image_pixels` pixels
/// and B = `clip_embed.max_image_bytes` bytes (besides the B bytes of input
/// the caller holds): the decoder's buffers are at most [`decode_budget`] =
/// 12 P + 64 MiB, each path checked before it allocates:
/// * BMP (OpenCV's reader, ported): the 3 P RGB output, made after the
///   header and, for uncompressed files, every row's bytes are checked;
/// * `image` crate (PNG, WebP, GIF, TIFF): one output buffer in the
///   decoder's layout, at most 8 P (16-bit RGBA), converted to RGB in place
///   (no second full copy), plus the decoder's own allocations, capped by
///   `image::Limits::max_alloc` at the budget less that output (TIFF's whole
///   decoded strip set, GIF's frame; PNG's are a few rows);
/// * libjpeg: 3 P of RGB output (4 P for CMYK, converted in place) plus, for
///   progressive and multi-scan files, its coefficient buffer (up to 8 P):
///   up to 12 P, checked from the frame header ([`jpeg::scan_work`]);
/// * libtiff (fallback): a 4 P raster plus its strip or tile buffer, which its
///   single-allocation cap holds to 8 P + 64 MiB; then a 3 P copy, made after
///   the strip buffers of the RGBA interface are released.
///
/// After decoding, the upright image is 3 P, and an Exif rotation copies it
/// once (6 P for that moment). The resampler's buffers are bounded apart from
/// P (see [`crate::image::pil_resample`]: 17.1 MB at most for a 224 input). So one
/// image call needs at most 12 P + 64 MiB + 17 MB + B (+ B for the caller's
/// copy): ~1.2 GiB at the defaults (P = 89,478,485, B = 50 MiB), approached
/// only by a progressive 4:4:4 CMYK JPEG or a single-strip 16-bit RGBA TIFF of
/// ~89 megapixels; a 16-bit RGBA PNG at the limit needs 8 P (716 MB). The
/// `image` crate's TIFF decoder holds its decoded strips and the output at
/// once, so a 16-bit RGBA or float TIFF is refused above about half the pixel
/// limit (its allocations would pass the budget).
pub fn decode_rgb(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    decode_rgb_cancellable(bytes, limits, None)
}

/// [`decode_rgb`], polling `cancel` between phases and every 64 KiB of input
/// the memory-safe decoders read ([`Error::Cancelled`] when it says so).
///
/// What no poll can interrupt (measured at the default limits, 10000x8947):
/// one libjpeg call, bounded by [`jpeg::work_budget`], the pixel limit and the
/// byte limit (1.71 s for a dense progressive 4:4:4 JPEG of 38.6 MB, 0.6-0.8 s
/// for scans without data up to the budget, 0.55 s for a baseline photo); one
/// libtiff strip or tile (0.38 s for a single-strip 89-megapixel palette
/// TIFF; JPEG strips walked as JPEG files are); zune-jpeg's decoding of one
/// strip of a JPEG-compressed RGB TIFF in the `tiff` crate (zune stops at 100
/// scans: 98 scans of 8192x8192 took 0.54 s); image-webp's decoding of a WebP
/// frame once read (bounded by the pixel limit and WebP's 16383x16383).
pub fn decode_rgb_cancellable(bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<RgbImage> {
    poll(cancel)?;
    // The decoders are third-party code fed untrusted bytes: a panic in one is
    // an invalid image, not a crash of the query with an internal error.
    let image = std::panic::catch_unwind(|| decode_unguarded(bytes, limits, cancel))
        .unwrap_or_else(|_| Err(Error::InvalidImage("image decoder failed on malformed data".into())))?;
    poll(cancel)?;
    Ok(image)
}

/// The first value of `tag` (SHORT or LONG) in a TIFF's first image, read
/// from its header and first IFD (classic or BigTIFF, either byte order); None
/// where the tag is absent or they do not parse. Enough to route a TIFF before
/// a decoder sees it: Compression (259), PlanarConfiguration (284), TileWidth
/// (322), ExtraSamples (338).
fn tiff_tag(bytes: &[u8], tag: u16) -> Option<u32> {
    let little = match bytes.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let read = |at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        Some(if little {
            field.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
        } else {
            field.iter().fold(0, |v, &b| v << 8 | u64::from(b))
        })
    };
    let (count_len, entry_len, ifd) = match read(2, 2)? {
        42 => (2, 12, read(4, 4)?),
        43 => (8, 20, read(8, 8)?),
        _ => return None,
    };
    let ifd = usize::try_from(ifd).ok()?;
    let entries = read(ifd, count_len)?.min(4096) as usize;
    // Classic entries: tag, type, 4-byte count, 4-byte value; BigTIFF: 8 and 8.
    let field_len = if count_len == 2 { 4 } else { 8 };
    (0..entries)
        .find_map(|i| {
            let entry = ifd + count_len + i * entry_len;
            if read(entry, 2)? != u64::from(tag) {
                return None;
            }
            let size = match read(entry + 2, 2)? {
                3 => 2, // SHORT
                4 => 4, // LONG
                _ => return Some(None),
            };
            let count = read(entry + 4, field_len)?;
            let value_at = entry + 4 + field_len;
            // Values that fit sit in the value field, first value first; others at its offset.
            let at = if count.saturating_mul(size as u64) <= field_len as u64 {
                value_at
            } else {
                usize::try_from(read(value_at, field_len)?).ok()?
            };
            Some(read(at, size).map(|v| v as u32))
        })
        .flatten()
}

fn decode_unguarded(bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<RgbImage> {
    let format = check_encoded(bytes, limits)?;
    let (image, orientation) = if format == ImageFormat::Jpeg {
        // libjpeg decodes files that zune-jpeg refuses; the orientation is
        // OpenCV's: its ExifReader on the first APP1, whatever that holds.
        let orientation =
            jpeg::exif_orientation(bytes).and_then(|o| u8::try_from(o).ok()).and_then(Orientation::from_exif);
        poll(cancel)?;
        (jpeg::decode(bytes, limits, cancel)?, orientation)
    } else if format == ImageFormat::Bmp {
        // OpenCV's reader, not the `image` crate's: see bmp.rs for where they differ.
        (bmp::decode(bytes, limits, cancel)?, None)
    } else if format == ImageFormat::Tiff
        && (tiff_tag(bytes, 259).is_some_and(|c| c == 6 || c == 7)
            || (tiff_tag(bytes, 322).is_some() && tiff_tag(bytes, 284) == Some(2)))
    {
        // JPEG-compressed TIFF: the tiff crate hands each strip to zune-jpeg,
        // which decodes whatever frame the strip declares (up to 65535^2), with
        // no work bound and no cancel; libtiff's path walks every strip against
        // the JPEG work budget first, and is OpenCV's own reader.
        // Tiled and planar: the tiff crate 0.11.3 panics (`expand_chunk`) on
        // all 17 such files of tests/data/tiff_cases.json, 8- and 16-bit, raw
        // and LZW; libtiff reads them as OpenCV does.
        let (image, stored) = libtiff::decode(bytes, limits, cancel)?;
        (image, Orientation::from_exif(stored.clamp(1, 8) as u8))
    } else {
        match decode_with_image(bytes, format, limits, cancel) {
            // What the memory-safe decoder cannot read, libtiff may: OpenCV's own TIFF reader.
            Err(Error::InvalidImage(why)) if format == ImageFormat::Tiff => {
                poll(cancel)?;
                let (image, stored) = libtiff::decode(bytes, limits, cancel).map_err(|e| match e {
                    Error::InvalidImage(libtiff_error) => {
                        Error::InvalidImage(format!("{why}; and libtiff: {libtiff_error}"))
                    }
                    other => other,
                })?;
                (image, Orientation::from_exif(stored.clamp(1, 8) as u8))
            }
            other => other?,
        }
    };
    poll(cancel)?;
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation.unwrap_or(Orientation::NoTransforms));
    Ok(image.into_rgb8())
}

/// Every format but JPEG, through the `image` crate's memory-safe decoders.
fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
    cancel: Option<CancelCheck>,
) -> Result<(RgbImage, Option<Orientation>)> {
    let cancelled = Cell::new(false);
    let reader = Polled { bytes, at: 0, cancel, cancelled: &cancelled, next_poll: POLL_BYTES };
    let outcome = decode_polled(reader, format, limits);
    if cancelled.get() {
        return Err(Error::Cancelled);
    }
    outcome
}

fn decode_polled(
    reader: Polled<'_>,
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<(RgbImage, Option<Orientation>)> {
    let bytes = reader.bytes;
    let mut decoder = decoder(reader, format, limits).map_err(|e| corrupt(format, e))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    let orientation = match format {
        ImageFormat::Png | ImageFormat::Tiff => decoder.orientation().ok(),
        _ => None, // OpenCV 4.10 ignores WebP's Exif; BMP and GIF have none
    };
    let color = decoder.color_type();
    let output = decoder.total_bytes();
    let widest = limits.max_pixels.saturating_mul(OUTPUT_BYTES_PER_PIXEL);
    if output > widest {
        return Err(Error::LimitExceeded(format!(
            "image of {width}x{height} pixels decodes to {output} bytes ({color:?}), over \
             {OUTPUT_BYTES_PER_PIXEL} bytes per pixel of clip_embed.max_image_pixels ({widest})"
        )));
    }
    // The decoder's own allocations get what the budget leaves after the output.
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(decode_budget(limits).saturating_sub(output));
    decoder.set_limits(decoder_limits).map_err(|e| corrupt(format, e))?;
    let size = usize::try_from(output).map_err(|_| Error::LimitExceeded("decoded image too large".into()))?;
    let mut buffer = vec![0u8; size];
    decoder.read_image(&mut buffer).map_err(|e| corrupt(format, e))?;
    let rules = if format == ImageFormat::Tiff {
        LibtiffRules { round_16_bit: true, premultiply: tiff_tag(bytes, 338) == Some(2) }
    } else {
        LibtiffRules::NONE
    };
    let rgb = to_rgb_in_place(buffer, width, height, color, rules)?;
    Ok((rgb, orientation))
}

fn decoder<'a, R: BufRead + Seek + 'a>(
    reader: R,
    format: ImageFormat,
    limits: &ImageLimits,
) -> image::ImageResult<impl ImageDecoder + 'a> {
    let mut reader = ImageReader::with_format(reader, format);
    let mut decoder_limits = image::Limits::default();
    // Headers, Exif and ICC chunks, IFDs: within the decoding budget.
    decoder_limits.max_alloc = Some(decode_budget(limits));
    reader.limits(decoder_limits);
    reader.into_decoder()
}

/// The input as the `image` crate's decoders read it: at most 64 KiB at a time,
/// with a poll of the cancel check every [`POLL_BYTES`]. A cancel is an I/O
/// error to the decoder (which stops) and a flag to us.
struct Polled<'a> {
    bytes: &'a [u8],
    at: u64,
    cancel: Option<CancelCheck>,
    cancelled: &'a Cell<bool>,
    next_poll: u64,
}

impl Polled<'_> {
    fn rest(&self) -> &[u8] {
        let start = usize::try_from(self.at).unwrap_or(usize::MAX).min(self.bytes.len());
        &self.bytes[start..]
    }
}

impl Read for Polled<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Polled<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at >= self.next_poll {
            self.next_poll = self.at.saturating_add(POLL_BYTES);
            if poll(self.cancel).is_err() {
                self.cancelled.set(true);
                return Err(io::Error::other("query cancelled"));
            }
        }
        let rest = self.rest();
        Ok(&rest[..rest.len().min(POLL_BYTES as usize)])
    }

    fn consume(&mut self, amount: usize) {
        self.at = self.at.saturating_add(amount as u64);
    }
}

impl Seek for Polled<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => (self.bytes.len() as u64).checked_add_signed(delta),
            SeekFrom::Current(delta) => self.at.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        if target < self.at {
            // Reading again from further back: poll on the next read.
            self.next_poll = self.next_poll.min(target);
        }
        self.at = target;
        Ok(target)
    }
}

fn corrupt(format: ImageFormat, e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => Error::LimitExceeded(format!("image exceeds a decoding limit: {e}")),
        _ => Error::InvalidImage(format!("could not decode {format:?} image: {e}")),
    }
}

/// What libtiff's RGBA interface, which OpenCV reads TIFFs with, does to
/// samples that other formats' readers do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LibtiffRules {
    /// 16-bit samples rounded to 8 bits (`round_16_to_8_like_libtiff`), not cut.
    round_16_bit: bool,
    /// Colour premultiplied by alpha: only where ExtraSamples says the alpha is
    /// unassociated (2). Associated alpha (1) is already in the colour, and
    /// unspecified (0, or no tag) libtiff takes as associated or ignores; OpenCV
    /// then drops the alpha. Premultiplying those too was off by up to 252 of
    /// 255 from OpenCV in 15 files of tests/data/tiff_cases.json.
    premultiply: bool,
}

impl LibtiffRules {
    /// Every format but TIFF.
    const NONE: LibtiffRules = LibtiffRules { round_16_bit: false, premultiply: false };
}

/// The decoder's output in `color`'s layout (native-endian samples) turned
/// into 8-bit RGB the way OpenCV's `IMREAD_COLOR` makes it, in the same
/// buffer: narrower layouts are expanded from the last pixel back, wider ones
/// compacted from the first pixel on, so no second full-size copy is made.
fn to_rgb_in_place(
    mut buf: Vec<u8>,
    width: u32,
    height: u32,
    color: ColorType,
    rules: LibtiffRules,
) -> Result<RgbImage> {
    let n = width as usize * height as usize;
    let bpp = usize::from(color.bytes_per_pixel());
    if buf.len() != n * bpp {
        return Err(Error::InvalidImage(format!(
            "decoder returned {} bytes for {width}x{height} {color:?}",
            buf.len()
        )));
    }
    // RGB of pixel `i`, read from `b` (its `bpp` bytes at `i * bpp`).
    let convert: fn(&[u8], LibtiffRules) -> [u8; 3] = match color {
        ColorType::Rgb8 => return RgbImage::from_raw(width, height, buf).ok_or_else(wrong_size),
        ColorType::Rgba8 => |p, rules| {
            if rules.premultiply {
                premultiply_like_libtiff([p[0], p[1], p[2]], p[3])
            } else {
                [p[0], p[1], p[2]]
            }
        },
        ColorType::L8 | ColorType::La8 => |p, _| [p[0]; 3],
        ColorType::L16 | ColorType::La16 => |p, _| [high_byte(u16_at(p, 0)); 3],
        ColorType::Rgb16 => |p, rules| {
            let rgb = [u16_at(p, 0), u16_at(p, 1), u16_at(p, 2)];
            rgb.map(if rules.round_16_bit { round_16_to_8_like_libtiff } else { high_byte })
        },
        ColorType::Rgba16 => |p, rules| {
            let rgba = [u16_at(p, 0), u16_at(p, 1), u16_at(p, 2), u16_at(p, 3)];
            let [r, g, b, a] = rgba.map(if rules.round_16_bit { round_16_to_8_like_libtiff } else { high_byte });
            if rules.premultiply {
                premultiply_like_libtiff([r, g, b], a)
            } else {
                [r, g, b]
            }
        },
        // 32-bit float TIFFs: the `image` crate's own conversion, alpha dropped.
        ColorType::Rgb32F | ColorType::Rgba32F => |p, _| [f32_at(p, 0), f32_at(p, 1), f32_at(p, 2)].map(float_to_u8),
        other => return Err(Error::InvalidImage(format!("unsupported decoded pixel layout {other:?}"))),
    };
    if bpp < 3 {
        // Expand from the back: pixel i's bytes (bpp*i..) lie below 3i, where it lands.
        buf.resize(3 * n, 0);
        for i in (0..n).rev() {
            let rgb = convert(&buf[bpp * i..bpp * i + bpp], rules);
            buf[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
    } else {
        // Compact from the front: pixel i lands on 3i..3i+3, at or below bpp*(i+1).
        for i in 0..n {
            let rgb = convert(&buf[bpp * i..bpp * i + bpp], rules);
            buf[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
        buf.truncate(3 * n);
        buf.shrink_to_fit();
    }
    RgbImage::from_raw(width, height, buf).ok_or_else(wrong_size)
}

/// Sample `i` of a native-endian 16-bit pixel.
fn u16_at(p: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([p[2 * i], p[2 * i + 1]])
}

/// Sample `i` of a native-endian 32-bit float pixel.
fn f32_at(p: &[u8], i: usize) -> f32 {
    f32::from_ne_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]])
}

fn wrong_size() -> Error {
    Error::InvalidImage("decoded image has the wrong size".into())
}

/// The `image` crate's f32 to u8 (`normalize_float`): clamped to [0, 1] (NaN
/// to 1), scaled by 255, rounded half away from zero.
fn float_to_u8(v: f32) -> u8 {
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN maps to 1.0, as in `image`
    let clamped = if !(v < 1.0) { 1.0 } else { v.max(0.0) };
    (clamped * 255.0).round() as u8
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_the_first_ifd() {
        // Classic little-endian: one entry, Compression (259) SHORT = 7 (JPEG).
        let classic =
            [b"II\x2a\x00\x08\x00\x00\x00\x01\x00".as_slice(), b"\x03\x01\x03\x00\x01\x00\x00\x00\x07\x00\x00\x00"]
                .concat();
        assert_eq!(tiff_tag(&classic, 259), Some(7));
        assert_eq!(tiff_tag(&classic, 284), None, "absent");
        // BigTIFF big-endian: ImageWidth, then Compression = 1.
        let mut big = b"MM\x00\x2b\x00\x08\x00\x00".to_vec();
        big.extend_from_slice(&16u64.to_be_bytes());
        big.extend_from_slice(&2u64.to_be_bytes());
        big.extend_from_slice(&[0x01, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 64, 0, 0, 0, 0]);
        big.extend_from_slice(&[0x01, 0x03, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(tiff_tag(&big, 259), Some(1));
        assert_eq!(tiff_tag(&big, 256), Some(64), "a LONG, big-endian");
        assert_eq!(tiff_tag(b"II\x2a\x00\xff\xff\xff\xff", 259), None, "an IFD past the end");
        assert_eq!(tiff_tag(&classic[..12], 259), None);
    }
    use image::{ImageBuffer, Pixel};

    /// The conversion this module made before it worked in place: `DynamicImage`
    /// in, a second buffer out. The oracle for [`to_rgb_in_place`].
    fn to_rgb_by_copy(image: DynamicImage, rules: LibtiffRules) -> RgbImage {
        let (width, height) = (image.width(), image.height());
        let rgb = |pixels: Vec<u8>| RgbImage::from_raw(width, height, pixels).unwrap();
        match image {
            DynamicImage::ImageRgb8(img) => img,
            DynamicImage::ImageRgba8(img) if rules.premultiply => {
                rgb(img.pixels().flat_map(|p| premultiply_like_libtiff([p[0], p[1], p[2]], p[3])).collect())
            }
            DynamicImage::ImageRgba8(img) => rgb(img.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect()),
            DynamicImage::ImageLuma8(img) => rgb(img.into_raw().into_iter().flat_map(|v| [v; 3]).collect()),
            DynamicImage::ImageLumaA8(img) => rgb(img.pixels().flat_map(|p| [p[0]; 3]).collect()),
            DynamicImage::ImageLuma16(img) => rgb(img.into_raw().into_iter().flat_map(|v| [high_byte(v); 3]).collect()),
            DynamicImage::ImageLumaA16(img) => rgb(img.pixels().flat_map(|p| [high_byte(p[0]); 3]).collect()),
            DynamicImage::ImageRgb16(img) if rules.round_16_bit => {
                rgb(img.into_raw().into_iter().map(round_16_to_8_like_libtiff).collect())
            }
            DynamicImage::ImageRgb16(img) => rgb(img.into_raw().into_iter().map(high_byte).collect()),
            DynamicImage::ImageRgba16(img) if rules.round_16_bit => rgb(img
                .pixels()
                .flat_map(|p| {
                    let [r, g, b, a] = p.0.map(round_16_to_8_like_libtiff);
                    if rules.premultiply {
                        premultiply_like_libtiff([r, g, b], a)
                    } else {
                        [r, g, b]
                    }
                })
                .collect()),
            DynamicImage::ImageRgba16(img) => {
                rgb(img.pixels().flat_map(|p| [p[0], p[1], p[2]].map(high_byte)).collect())
            }
            other => other.into_rgb8(),
        }
    }

    fn typed<P: Pixel>(width: u32, height: u32, bytes: &[u8]) -> ImageBuffer<P, Vec<P::Subpixel>>
    where
        P::Subpixel: bytemuck_free::FromNe,
    {
        let samples = bytes.chunks_exact(size_of::<P::Subpixel>()).map(bytemuck_free::FromNe::from_ne).collect();
        ImageBuffer::from_raw(width, height, samples).unwrap()
    }

    /// Native-endian samples from bytes, without a bytemuck dependency.
    mod bytemuck_free {
        pub trait FromNe {
            fn from_ne(b: &[u8]) -> Self;
        }
        impl FromNe for u8 {
            fn from_ne(b: &[u8]) -> Self {
                b[0]
            }
        }
        impl FromNe for u16 {
            fn from_ne(b: &[u8]) -> Self {
                u16::from_ne_bytes([b[0], b[1]])
            }
        }
        impl FromNe for f32 {
            fn from_ne(b: &[u8]) -> Self {
                f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
            }
        }
    }

    #[test]
    fn in_place_conversion_matches_the_copying_one_for_every_layout() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (width, height) = (13u32, 7u32);
        for color in [
            ColorType::Rgb8,
            ColorType::Rgba8,
            ColorType::L8,
            ColorType::La8,
            ColorType::L16,
            ColorType::La16,
            ColorType::Rgb16,
            ColorType::Rgba16,
            ColorType::Rgb32F,
            ColorType::Rgba32F,
        ] {
            let tiff = |premultiply| LibtiffRules { round_16_bit: true, premultiply };
            for rules in [LibtiffRules::NONE, tiff(false), tiff(true)] {
                let n = (width * height) as usize * usize::from(color.bytes_per_pixel());
                let bytes: Vec<u8> = if matches!(color, ColorType::Rgb32F | ColorType::Rgba32F) {
                    // Floats around [0, 1], some out of range, and a NaN.
                    (0..n / 4)
                        .flat_map(|i| {
                            let v = if i == 5 { f32::NAN } else { (next() % 1400) as f32 / 1000.0 - 0.2 };
                            v.to_ne_bytes()
                        })
                        .collect()
                } else {
                    (0..n).map(|_| next() as u8).collect()
                };
                let image = match color {
                    ColorType::Rgb8 => DynamicImage::ImageRgb8(typed(width, height, &bytes)),
                    ColorType::Rgba8 => DynamicImage::ImageRgba8(typed(width, height, &bytes)),
                    ColorType::L8 => DynamicImage::ImageLuma8(typed(width, height, &bytes)),
                    ColorType::La8 => DynamicImage::ImageLumaA8(typed(width, height, &bytes)),
                    ColorType::L16 => DynamicImage::ImageLuma16(typed(width, height, &bytes)),
                    ColorType::La16 => DynamicImage::ImageLumaA16(typed(width, height, &bytes)),
                    ColorType::Rgb16 => DynamicImage::ImageRgb16(typed(width, height, &bytes)),
                    ColorType::Rgba16 => DynamicImage::ImageRgba16(typed(width, height, &bytes)),
                    ColorType::Rgb32F => DynamicImage::ImageRgb32F(typed(width, height, &bytes)),
                    _ => DynamicImage::ImageRgba32F(typed(width, height, &bytes)),
                };
                let expected = to_rgb_by_copy(image, rules);
                let ours = to_rgb_in_place(bytes, width, height, color, rules).unwrap();
                assert_eq!(ours, expected, "{color:?} {rules:?}");
            }
        }
    }

    #[test]
    fn opencv_dimension_limits_apply_whatever_the_pixel_setting() {
        let generous = ImageLimits { max_bytes: 1 << 30, max_pixels: i32::MAX as u64 };
        assert!(check_pixels(1 << 20, 1, &generous).is_ok());
        for (w, h) in [((1 << 20) + 1, 1), (1, (1 << 20) + 1), (19_173_962, 1)] {
            let e = check_pixels(w, h, &generous).unwrap_err();
            assert!(matches!(e, Error::LimitExceeded(_)), "{w}x{h}");
            assert!(e.to_string().contains("CV_IO_MAX_IMAGE_WIDTH"), "{e}");
        }
        let e = check_pixels(1 << 20, (1 << 10) + 1, &generous).unwrap_err();
        assert!(e.to_string().contains("CV_IO_MAX_IMAGE_PIXELS"), "{e}");
        let e = check_pixels(10_000, 8_948, &ImageLimits::DEFAULT).unwrap_err();
        assert!(e.to_string().contains("clip_embed.max_image_pixels (89478485)"), "{e}");
        assert!(check_pixels(10_000, 8_947, &ImageLimits::DEFAULT).is_ok());
    }

    #[test]
    fn polled_reader_reads_seeks_and_stops_on_cancel() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let cancelled = Cell::new(false);
        let mut reader = Polled { bytes: &bytes, at: 0, cancel: None, cancelled: &cancelled, next_poll: POLL_BYTES };
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, bytes);
        assert_eq!(reader.seek(SeekFrom::End(-10)).unwrap(), 299_990);
        assert_eq!(reader.seek(SeekFrom::Current(5)).unwrap(), 299_995);
        assert!(reader.seek(SeekFrom::Current(-300_000)).is_err());

        let mut reader =
            Polled { bytes: &bytes, at: 0, cancel: Some(|| true), cancelled: &cancelled, next_poll: POLL_BYTES };
        let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Other, "not Interrupted: read loops would retry that");
        assert!(cancelled.get());
    }
}
