//! JPEG through libjpeg-turbo's TurboJPEG API, which OpenCV's build also uses
//! (3.0.3 there, Debian's 2.1.5 here: accurate integer IDCT and fancy
//! upsampling in both, so colour JPEGs decode to the same pixels).
//!
//! `tjDecompress2` is one C call that no signal can interrupt (a cancel or a
//! `pg_terminate_backend` waits for it to return), so its total work is bounded
//! before it is made: [`scan_work`] walks the markers the way libjpeg reads
//! them and sums the 8x8 block decodes of every scan, and [`decode`] refuses a
//! file whose sum is over [`work_budget`] or whose buffers are over
//! [`crate::image::limits::decode_budget`]. A progressive file can repeat scans without limit
//! (an SOS header with no entropy data is 10 bytes, and libjpeg still visits
//! every block of the scan), so without the bound a 1 MB file of 8192x8192
//! pixels and 9,000 scans kept a backend busy for ~60 s.
use std::ffi::CStr;

use image::RgbImage;
use turbojpeg::raw;

use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::image::limits::ImageLimits;
use crate::image::limits::{check_decode_bytes, check_pixels};

/// libjpeg-turbo's own scan limit under `TJFLAG_LIMITSCANS` (`my_progress_monitor`
/// in turbojpeg.c: "Progressive JPEG image has more than 500 scans"); the marker
/// walk refuses the same count first, with a 54000 error.
pub const MAX_SCANS: u32 = 500;

/// The smallest work budget, in block decodes, whatever `clip_embed.max_image_pixels`
/// says: 2^24 (~0.1 s here), so a small limit never refuses an ordinary photo's
/// scan script.
pub const MIN_WORK_BUDGET: u64 = 1 << 24;

/// What one block decode and one restart cost, in units of the dearest
/// Huffman block decode, by entropy coding. Measured here (libjpeg-turbo 2.1.5,
/// 4096x4096 4:4:4, scans without entropy data, the slope between 10 and 110
/// scans, idle machine):
///
/// | scans | Huffman | arithmetic |
/// |---|---|---|
/// | interleaved DC | 2.07 ns/block | 22.3 ns/block |
/// | single-component AC | 3.34 ns/block | 4.85 ns/block |
/// | single-component sequential | 3.65 ns/block | 28.5 ns/block |
/// | a restart marker (interval 1) | +8.4 to 9.1 ns | +31.5 ns |
///
/// So a unit is at most ~3.7 ns whatever the scans: Huffman (1, 3),
/// arithmetic (8, 9).
#[derive(Debug, Clone, Copy)]
struct Weights {
    block: u64,
    restart: u64,
}

const HUFFMAN: Weights = Weights { block: 1, restart: 3 };
const ARITHMETIC: Weights = Weights { block: 8, restart: 9 };

/// Most work units ([`Weights`]) libjpeg may spend on one image's scans:
/// `clip_embed.max_image_pixels` of them (at least [`MIN_WORK_BUDGET`]).
///
/// Why this number: at ~3.7 ns a unit the default 89,478,485 is ~0.33 s of
/// scan decoding, on top of the output pass that every image of that size
/// needs anyway (IDCT, upsampling, colour conversion). Measured here through
/// [`super::decode_rgb`], files of scans without data just inside the budget
/// decode in 0.60-0.77 s at 8192x8192 and 10000x8947 (whatever the scan kind,
/// coding and restart interval), against 0.41 s for one scan of 8192x8192;
/// the scan bomb of 8192x8192 pixels and 9,000 scans asks for 28 billion (and
/// is refused at its 501st scan). Ordinary photos stay far inside: a
/// progressive JPEG with libjpeg's standard 10-scan script
/// (`jpeg_simple_progression`, what PIL, OpenCV and cjpeg write) costs ~5.3
/// units per 64 pixels at 4:2:0 (11.2M at 10000x8947: 8x inside) and ~14 at
/// 4:4:4 (19.6M: 4.5x inside). The budget follows the pixel limit so that a
/// server that takes larger images takes their scans too, and its time grows
/// with the decode's own.
pub fn work_budget(limits: &ImageLimits) -> u64 {
    limits.max_pixels.max(MIN_WORK_BUDGET)
}

/// What libjpeg will do for a JPEG's scans, read from its markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanWork {
    /// The frame's size (SOF), 0x0 where no frame header was found.
    pub width: u32,
    pub height: u32,
    /// SOS markers libjpeg can reach (stops counting at [`MAX_SCANS`] + 1).
    pub scans: u32,
    /// Block decodes and restarts over every scan, weighted ([`Weights`]).
    pub work: u64,
    /// Bytes of libjpeg's whole-image coefficient buffer: 128 bytes per block of
    /// every component, padded to whole MCUs, for progressive and multi-scan
    /// files; 0 for a single interleaved scan (decoded an MCU row at a time).
    pub coefficient_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: u64,
    v: u64,
}

struct Frame {
    width: u64,
    height: u64,
    components: Vec<Component>,
    max_h: u64,
    max_v: u64,
    arithmetic: bool,
    progressive: bool,
}

impl Frame {
    /// libjpeg's `width_in_blocks` and `height_in_blocks` of a component.
    fn blocks(&self, c: &Component) -> (u64, u64) {
        ((self.width * c.h).div_ceil(self.max_h * 8), (self.height * c.v).div_ceil(self.max_v * 8))
    }

    /// Blocks and MCUs of a scan over `components`, as `per_scan_setup` counts them.
    fn scan(&self, components: &[Component]) -> (u64, u64) {
        if let [c] = components {
            let (w, h) = self.blocks(c);
            (w * h, w * h) // one block per MCU
        } else {
            let mcus = self.width.div_ceil(self.max_h * 8) * self.height.div_ceil(self.max_v * 8);
            (mcus * components.iter().map(|c| c.h * c.v).sum::<u64>(), mcus)
        }
    }

    /// `jdcoefct.c`'s full-image buffer: every component's blocks, rounded up to
    /// whole MCUs, 64 coefficients of 2 bytes each.
    fn coefficient_bytes(&self) -> u64 {
        self.components
            .iter()
            .map(|c| {
                let (w, h) = self.blocks(c);
                w.next_multiple_of(c.h) * h.next_multiple_of(c.v) * 128
            })
            .sum()
    }
}

/// The position just past the next marker at or after `at`, and its code, the
/// way libjpeg's `next_marker` finds it: bytes other than 0xFF are skipped,
/// 0xFF fill bytes are swallowed, and 0xFF 0x00 is data. In entropy-coded data
/// (`in_scan`) restart markers and codes below 0xC0 are passed over too:
/// libjpeg's restart resync skips them, and where it does not, it stops with an
/// error, so passing over them can only count more scans than libjpeg reaches.
fn next_marker(bytes: &[u8], mut at: usize, in_scan: bool) -> Option<(usize, u8)> {
    loop {
        at += memchr::memchr(0xFF, bytes.get(at..)?)?;
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let code = bytes[at];
        at += 1;
        let data = code == 0 || (in_scan && (code < 0xC0 || (0xD0..=0xD7).contains(&code)));
        if !data {
            return Some((at, code));
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?])))
}

/// Walks `bytes` as libjpeg-turbo's `read_markers` does and returns the work its
/// scans ask for. Never an error for malformed data: where libjpeg would stop
/// with an error, the walk stops too and returns what it counted, and libjpeg
/// gives its own message. Linear in the bytes (memchr over entropy data).
pub fn scan_work(bytes: &[u8]) -> ScanWork {
    let mut out = ScanWork::default();
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return out; // libjpeg's first_marker refuses it
    }
    let mut frame: Option<Frame> = None;
    let mut first_scan_components = 0;
    let mut restart_interval = 0u64;
    let mut at = 2;
    let mut in_scan = false;
    while let Some((next, code)) = next_marker(bytes, at, in_scan) {
        at = next;
        in_scan = false;
        // Every segment but RSTn and TEM starts with its length, which libjpeg
        // skips by where it does not parse the segment.
        let length = u16_at(bytes, at);
        match code {
            0xD0..=0xD7 | 0x01 => continue, // RSTn, TEM: no parameters
            0xC0 | 0xC1 | 0xC2 | 0xC9 | 0xCA => {
                if frame.is_some() {
                    break; // JERR_SOF_DUPLICATE
                }
                let Some(parsed) = parse_sof(bytes, at, code) else { break };
                out.width = u32::try_from(parsed.width).unwrap_or(u32::MAX);
                out.height = u32::try_from(parsed.height).unwrap_or(u32::MAX);
                frame = Some(parsed);
            }
            0xDA => {
                let Some(frame) = &frame else { break }; // JERR_SOS_NO_SOF
                let Some(components) = parse_sos(bytes, at, frame) else { break };
                out.scans += 1;
                if out.scans > MAX_SCANS {
                    break;
                }
                if out.scans == 1 {
                    first_scan_components = components.len();
                }
                let (blocks, mcus) = frame.scan(&components);
                let weights = if frame.arithmetic { ARITHMETIC } else { HUFFMAN };
                let restarts = mcus.checked_div(restart_interval).unwrap_or(0);
                out.work = out.work.saturating_add(blocks * weights.block + restarts * weights.restart);
                in_scan = true;
            }
            0xDD => {
                // DRI: libjpeg refuses any length but 4.
                if length != Some(4) {
                    break;
                }
                let Some(interval) = u16_at(bytes, at + 2) else { break };
                restart_interval = interval;
            }
            // DHT, DAC, DQT, APPn, COM, DNL: skipped by their length, as libjpeg
            // does (a length below 2 skips nothing).
            0xC4 | 0xCC | 0xDB | 0xE0..=0xEF | 0xFE | 0xDC => {}
            // EOI ends the image; a second SOI, the other SOFn (lossless,
            // hierarchical), JPG, JPGn and reserved codes stop libjpeg with an error.
            _ => break,
        }
        let Some(length) = length else { break };
        at = at.saturating_add(usize::try_from(length.max(2)).unwrap_or(usize::MAX));
    }
    if let Some(frame) = &frame {
        if frame.progressive || (first_scan_components > 0 && first_scan_components < frame.components.len()) {
            out.coefficient_bytes = frame.coefficient_bytes();
        }
    }
    out
}

/// The payload of the first APP1 segment in the headers (before the first
/// SOS), whatever its signature: the one OpenCV 4.10's JPEG decoder hands to
/// its `ExifReader`, 6 bytes in. libjpeg saves every APP1 before the first
/// scan, and OpenCV takes the first of its list; an XMP APP1 ahead of the Exif
/// one hides the orientation, an appended Ultra HDR gain map is never read.
/// A length word below 2 is not saved by libjpeg, so the next APP1 counts.
fn first_app1(bytes: &[u8]) -> Option<&[u8]> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    loop {
        let (next, code) = next_marker(bytes, at, false)?;
        at = next;
        match code {
            0xD0..=0xD7 | 0x01 => continue,
            0xC0..=0xCF | 0xDB..=0xDF | 0xE0..=0xEF | 0xFE => {}
            _ => return None, // SOS, EOI, a second SOI, reserved codes: no more headers
        }
        let length = usize::try_from(u16_at(bytes, at)?).ok()?;
        if code == 0xE1 && length >= 2 {
            return bytes.get(at + 2..at + length);
        }
        at += length.max(2);
    }
}

/// The EXIF orientation value OpenCV 4.10 applies to a JPEG (1 to 8 rotate or
/// flip, anything else leaves the image as decoded), found as its `ExifReader`
/// finds it in the first APP1 segment (`first_app1`): the TIFF header 6 bytes
/// in, with no check of the "Exif" signature; byte order "II" little-endian,
/// anything else but "MM" read as big-endian too; IFD0's entries in order, the
/// first Orientation entry kept (its SHORT at entry + 8, whatever its type),
/// and the walk stopped where an entry OpenCV parses points past the data
/// (what it read before that still counts).
pub(super) fn exif_orientation(bytes: &[u8]) -> Option<u16> {
    let data = first_app1(bytes)?.get(6..).filter(|d| !d.is_empty())?;
    let little = data[0] == b'I' && data.get(1).is_none_or(|&b| b == b'I');
    let u16_at = |at: usize| -> Option<u32> {
        let b = data.get(at..at.checked_add(2)?)?;
        Some(u32::from(if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) }))
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    // OpenCV's rationals: `count` pairs of LONGs from the offset in the entry
    // (a u32 that wraps as it steps).
    let rationals = |entry: usize, count: u32| -> Option<()> {
        let start = u32_at(entry + 8)?;
        (0..count).try_for_each(|i| {
            let at = start.wrapping_add(i * 8) as usize;
            u32_at(at).and(u32_at(at + 4)).map(drop)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let mut entry = u32_at(4)?;
    let count = u16_at(entry as usize)?;
    entry = entry.wrapping_add(2);
    for _ in 0..count {
        let at = entry as usize;
        let parsed = match u16_at(at)? {
            0x0112 => return u16_at(at + 8).map(|v| v as u16),
            // ImageDescription, Make, Model, Software, DateTime, Copyright:
            // more than 4 bytes sit at the offset the entry gives.
            0x010E | 0x010F | 0x0110 | 0x0131 | 0x0132 | 0x8298 => u32_at(at + 4).and_then(|size| {
                let start = if size > 4 { u32_at(at + 8)? } else { 8 };
                (u64::from(start) + u64::from(size) <= data.len() as u64).then_some(())
            }),
            0x011A | 0x011B => rationals(at, 1),         // X/YResolution
            0x013E => rationals(at, 2),                  // WhitePoint
            0x013F | 0x0214 => rationals(at, 6),         // PrimaryChromaticities, ReferenceBlackWhite
            0x0211 => rationals(at, 3),                  // YCbCrCoefficients
            0x0128 | 0x0213 => u16_at(at + 8).map(drop), // ResolutionUnit, YCbCrPositioning
            _ => Some(()),
        };
        parsed?;
        entry = entry.wrapping_add(12);
    }
    None
}

/// An SOF segment as `get_sof` and `initial_setup` accept it (None where they
/// stop with an error).
fn parse_sof(bytes: &[u8], at: usize, code: u8) -> Option<Frame> {
    let length = u16_at(bytes, at)?;
    let height = u16_at(bytes, at + 3)?;
    let width = u16_at(bytes, at + 5)?;
    let count = u64::from(*bytes.get(at + 7)?);
    if width == 0 || height == 0 || count == 0 || length != 8 + 3 * count {
        return None;
    }
    let mut components = Vec::new();
    for i in 0..count as usize {
        let spec = bytes.get(at + 8 + 3 * i..at + 11 + 3 * i)?;
        let (h, v) = (u64::from(spec[1] >> 4), u64::from(spec[1] & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return None; // JERR_BAD_SAMPLING
        }
        components.push(Component { id: spec[0], h, v });
    }
    let max_h = components.iter().map(|c| c.h).max()?;
    let max_v = components.iter().map(|c| c.v).max()?;
    Some(Frame {
        width,
        height,
        components,
        max_h,
        max_v,
        arithmetic: matches!(code, 0xC9 | 0xCA),
        progressive: matches!(code, 0xC2 | 0xCA),
    })
}

/// The frame components an SOS segment selects, as `get_sos` finds them (None
/// where it stops with an error).
fn parse_sos(bytes: &[u8], at: usize, frame: &Frame) -> Option<Vec<Component>> {
    let length = u16_at(bytes, at)?;
    let count = usize::from(*bytes.get(at + 2)?);
    if !(1..=4).contains(&count) || length != 2 * count as u64 + 6 {
        return None;
    }
    let searched = &frame.components[..frame.components.len().min(4)];
    let mut picked: Vec<usize> = Vec::with_capacity(count);
    for i in 0..count {
        let id = *bytes.get(at + 3 + 2 * i)?;
        let index = (0..searched.len()).find(|&ci| searched[ci].id == id && !picked.contains(&ci))?;
        picked.push(index);
    }
    Some(picked.into_iter().map(|ci| searched[ci]).collect())
}

/// A TurboJPEG decompressor handle, destroyed on drop.
struct Handle(raw::tjhandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitDecompress and is destroyed once.
        unsafe { raw::tjDestroy(self.0) };
    }
}

impl Handle {
    /// `Ok` for success and for a libjpeg warning, which OpenCV ignores too
    /// (junk before a marker, a truncated scan filled in by libjpeg).
    fn check(&self, status: libc::c_int) -> Result<()> {
        // SAFETY: the handle is live; both calls read its error state only.
        let (code, message) = unsafe {
            (raw::tjGetErrorCode(self.0), CStr::from_ptr(raw::tjGetErrorStr2(self.0)).to_string_lossy().into_owned())
        };
        if status == 0 || code == raw::TJERR_TJERR_WARNING as libc::c_int {
            Ok(())
        } else if message.contains("more than 500 scans") {
            Err(scans_error())
        } else {
            Err(Error::InvalidImage(format!("could not decode Jpeg image: {message}")))
        }
    }
}

fn scans_error() -> Error {
    Error::LimitExceeded(format!(
        "JPEG has more than {MAX_SCANS} scans, over libjpeg-turbo's limit (TJFLAG_LIMITSCANS)"
    ))
}

/// Decodes a JPEG to RGB, its work and memory bounded first.
///
/// Time: the scans' work is at most [`work_budget`] (~0.33 s at the default
/// pixel limit), and the output pass and the entropy decoding of real data are
/// bounded by `clip_embed.max_image_pixels` and `clip_embed.max_image_bytes`.
/// Measured here through [`super::decode_rgb`] at 10000x8947 pixels (just under
/// the default 89,478,485): a baseline photo decodes in 0.36 s at 4:2:0 (19.8
/// MB) and 0.55 s at 4:4:4 (32 MB), a progressive one with the standard 10
/// scans in 0.92 s and 1.47 s (17.4 and 27.7 MB), and a progressive 4:4:4 file
/// of dense noise (38.6 MB) in 1.71 s: the longest single step found that no
/// cancel can interrupt. Before the walk, the 9,000-scan bomb ran 59.8 s
/// (3.5 s with `TJFLAG_LIMITSCANS` alone); now it is refused in under 1 ms.
///
/// Memory: the output (3 bytes per pixel, 4 for CMYK, converted to RGB in place)
/// plus, for progressive and multi-scan files, libjpeg's coefficient buffer
/// (128 bytes per block: 6 bytes per pixel at 4:4:4, 3 at 4:2:0, 8 for 4:4:4
/// CMYK), checked together against [`crate::image::limits::decode_budget`]; a baseline file
/// needs a few rows of buffers besides (about 100 bytes per pixel of width).
pub(super) fn decode(bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<RgbImage> {
    let length =
        libc::c_ulong::try_from(bytes.len()).map_err(|_| Error::LimitExceeded("JPEG too large for libjpeg".into()))?;
    // SAFETY: tjInitDecompress has no preconditions; a null handle is checked.
    let handle = Handle(unsafe { raw::tjInitDecompress() });
    if handle.0.is_null() {
        return Err(Error::InvalidImage("could not start the JPEG decoder".into()));
    }
    let (mut width, mut height, mut subsampling, mut colorspace) = (0, 0, 0, 0);
    // tjDecompressHeader3 takes no flags (TJFLAG_LIMITSCANS cannot apply); it reads
    // the markers up to the first SOS only, linear in the bytes.
    // SAFETY: `bytes` outlives the call; the four outputs are ours.
    handle.check(unsafe {
        raw::tjDecompressHeader3(
            handle.0,
            bytes.as_ptr(),
            length,
            &mut width,
            &mut height,
            &mut subsampling,
            &mut colorspace,
        )
    })?;
    let (w, h) = (u32::try_from(width).unwrap_or(0), u32::try_from(height).unwrap_or(0));
    check_pixels(w, h, limits)?;
    let scans = scan_work(bytes);
    if scans.scans > MAX_SCANS {
        return Err(scans_error());
    }
    let budget = work_budget(limits);
    if scans.work > budget {
        return Err(Error::LimitExceeded(format!(
            "JPEG of {w}x{h} pixels needs {} units of decoding work (weighted block decodes) over its {} scans, \
             over the limit of {budget} (clip_embed.max_image_pixels, at least {MIN_WORK_BUDGET})",
            scans.work, scans.scans
        )));
    }
    let cmyk = matches!(colorspace as u32, raw::TJCS_TJCS_CMYK | raw::TJCS_TJCS_YCCK);
    let (format, channels) = if cmyk { (raw::TJPF_TJPF_CMYK, 4) } else { (raw::TJPF_TJPF_RGB, 3) };
    let pitch = w as usize * channels;
    let output = pitch as u64 * u64::from(h);
    check_decode_bytes(w, h, "JPEG output and coefficient buffers", output + scans.coefficient_bytes, limits)?;
    let decompress = move |bytes: &[u8]| decompress(bytes, (w, h), format as libc::c_int, channels, cmyk);
    let pixels = match cancel {
        // libjpeg cannot poll a cancel: a large image decodes on a worker
        // thread over its own copy of the bytes, so a cancel returns at once
        // and the abandoned decode (bounded by the work budget: 1.71 s for the
        // worst 89-megapixel progressive file measured) ends by itself.
        Some(_) if u64::from(w) * u64::from(h) > WORKER_PIXELS || scans.work > WORKER_PIXELS => {
            let owned = bytes.to_vec();
            crate::worker::abandonable(cancel, move || decompress(&owned))??
        }
        _ => decompress(bytes)?,
    };
    RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| Error::InvalidImage("JPEG decoded to a buffer of the wrong size".into()))
}

/// Images above this many pixels (4 MP: ~20-50 ms of decoding), or with more
/// scan work than this many units (a small file with many scans), decode on a
/// worker thread when the call can be cancelled.
const WORKER_PIXELS: u64 = 1 << 22;

/// libjpeg-turbo's decode of a checked JPEG to RGB (CMYK converted as OpenCV does).
fn decompress(bytes: &[u8], (w, h): (u32, u32), format: libc::c_int, channels: usize, cmyk: bool) -> Result<Vec<u8>> {
    let length =
        libc::c_ulong::try_from(bytes.len()).map_err(|_| Error::LimitExceeded("JPEG too large for libjpeg".into()))?;
    // SAFETY: tjInitDecompress has no preconditions; a null handle is checked.
    let handle = Handle(unsafe { raw::tjInitDecompress() });
    if handle.0.is_null() {
        return Err(Error::InvalidImage("could not start the JPEG decoder".into()));
    }
    let pitch = w as usize * channels;
    let mut pixels = vec![0u8; pitch * h as usize];
    // SAFETY: `pixels` holds pitch x height bytes, as tjDecompress2 writes for this size and format.
    handle.check(unsafe {
        raw::tjDecompress2(
            handle.0,
            bytes.as_ptr(),
            length,
            pixels.as_mut_ptr(),
            w as libc::c_int,
            pitch as libc::c_int,
            h as libc::c_int,
            format,
            // A second net under the marker walk: libjpeg stops at its 501st scan.
            raw::TJFLAG_LIMITSCANS as libc::c_int,
        )
    })?;
    if cmyk {
        // In place: pixel i's RGB lands on bytes 3i..3i+3, before pixel i+1's CMYK at 4i+4.
        for i in 0..w as usize * h as usize {
            let rgb = cmyk_to_rgb_like_opencv(&pixels[4 * i..4 * i + 4]);
            pixels[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
        pixels.truncate(3 * w as usize * h as usize);
        pixels.shrink_to_fit();
    }
    Ok(pixels)
}

/// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R` on libjpeg's raw (Adobe-inverted) samples.
fn cmyk_to_rgb_like_opencv(cmyk: &[u8]) -> [u8; 3] {
    let k = i32::from(cmyk[3]);
    [0, 1, 2].map(|i| (k - (((255 - i32::from(cmyk[i])) * k) >> 8)) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A JPEG's headers: SOF `sof` of `width`x`height` with components
    /// (id, sampling byte), one quantisation table, no Huffman tables needed here.
    fn headers(sof: u8, width: u16, height: u16, components: &[(u8, u8)]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend(segment(0xDB, &[[0u8].as_slice(), &[1; 64]].concat()));
        let mut frame = vec![8];
        frame.extend_from_slice(&height.to_be_bytes());
        frame.extend_from_slice(&width.to_be_bytes());
        frame.push(components.len() as u8);
        for &(id, sampling) in components {
            frame.extend_from_slice(&[id, sampling, 0]);
        }
        out.extend(segment(sof, &frame));
        out
    }

    fn sos(ids: &[u8]) -> Vec<u8> {
        let mut payload = vec![ids.len() as u8];
        for &id in ids {
            payload.extend_from_slice(&[id, 0]);
        }
        payload.extend_from_slice(&[0, 63, 0]);
        segment(0xDA, &payload)
    }

    const YCC: [(u8, u8); 3] = [(1, 0x11), (2, 0x11), (3, 0x11)];

    #[test]
    fn counts_every_scan_and_its_blocks() {
        // 8192x8192 at 4:4:4: 1,048,576 blocks per component.
        let mut bomb = headers(0xC2, 8192, 8192, &YCC);
        for _ in 0..100 {
            bomb.extend(sos(&[1, 2, 3]));
        }
        bomb.extend(sos(&[2]));
        bomb.extend_from_slice(&[0xFF, 0xD9]);
        let work = scan_work(&bomb);
        assert_eq!((work.width, work.height, work.scans), (8192, 8192, 101));
        assert_eq!(work.work, 101 * 3 * 1_048_576 - 2 * 1_048_576);
        assert_eq!(work.coefficient_bytes, 3 * 1_048_576 * 128);
        assert!(work.work > work_budget(&ImageLimits::DEFAULT));
    }

    #[test]
    fn counts_blocks_as_libjpeg_pads_them() {
        // 33x17 at 4:2:0: Y is 5x3 blocks (6x4 padded to whole MCUs), Cb and Cr 3x2.
        let components = [(1, 0x22), (2, 0x11), (3, 0x11)];
        let mut jpeg = headers(0xC2, 33, 17, &components);
        jpeg.extend(sos(&[1, 2, 3])); // interleaved: 3x2 MCUs of 6 blocks
        jpeg.extend(sos(&[1])); // Y alone: its 5x3 blocks
        jpeg.extend(sos(&[3]));
        let work = scan_work(&jpeg);
        assert_eq!(work.work, 36 + 15 + 6);
        assert_eq!(work.coefficient_bytes, (24 + 6 + 6) * 128);
        // Sequential with one interleaved scan: decoded an MCU row at a time.
        let mut baseline = headers(0xC0, 33, 17, &components);
        baseline.extend(sos(&[1, 2, 3]));
        assert_eq!(scan_work(&baseline).coefficient_bytes, 0);
    }

    #[test]
    fn weighs_arithmetic_coding_and_restarts() {
        let mut arithmetic = headers(0xCA, 64, 64, &YCC);
        arithmetic.extend(sos(&[1]));
        assert_eq!(scan_work(&arithmetic).work, 64 * 8);
        // A scan of 64 one-block MCUs with a restart each, then an interleaved
        // one of 64 three-block MCUs with a restart every 16.
        for (sof, expected) in [(0xC2, (64 + 64 * 3) + (192 + 4 * 3)), (0xCA, (64 * 8 + 64 * 9) + (192 * 8 + 4 * 9))] {
            let mut restarts = headers(sof, 64, 64, &YCC);
            restarts.extend(segment(0xDD, &1u16.to_be_bytes()));
            restarts.extend(sos(&[1]));
            restarts.extend(segment(0xDD, &16u16.to_be_bytes()));
            restarts.extend(sos(&[1, 2, 3]));
            assert_eq!(scan_work(&restarts).work, expected, "SOF {sof:#x}");
        }
    }

    #[test]
    fn walks_segments_and_entropy_data_as_libjpeg_does() {
        let mut jpeg = headers(0xC2, 64, 64, &YCC);
        // An SOS inside an APP1 segment is data to libjpeg, which skips APPn by length.
        let mut app = b"Exif\0\0".to_vec();
        app.extend(sos(&[1]));
        jpeg.extend(segment(0xE1, &app));
        jpeg.extend(sos(&[1]));
        // Entropy data: stuffed 0xFF 0x00, restart markers, fill bytes and codes
        // below 0xC0 do not end the scan; the next SOS does.
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF, 0x05, 0x78]);
        jpeg.extend(sos(&[2]));
        jpeg.extend_from_slice(&[0x9A, 0xFF, 0xFF]);
        jpeg.extend(sos(&[3]));
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg.extend(sos(&[1])); // after EOI: never read
        let work = scan_work(&jpeg);
        assert_eq!((work.scans, work.work), (3, 3 * 64));
    }

    #[test]
    fn stops_where_libjpeg_stops() {
        let mut jpeg = headers(0xC2, 64, 64, &YCC);
        jpeg.extend(sos(&[4])); // no such component: JERR_BAD_COMPONENT_ID
        jpeg.extend(sos(&[1]));
        assert_eq!(scan_work(&jpeg).scans, 0);
        let mut jpeg = headers(0xC2, 64, 64, &YCC);
        jpeg.extend(sos(&[1, 1])); // a component twice in one scan
        assert_eq!(scan_work(&jpeg).scans, 0);
        assert_eq!(scan_work(&sos(&[1])), ScanWork::default(), "no SOI");
        let mut many = headers(0xC2, 8, 8, &YCC);
        for _ in 0..10_000 {
            many.extend(sos(&[1]));
        }
        assert_eq!(scan_work(&many).scans, MAX_SCANS + 1, "counting stops past the limit");
    }
}
