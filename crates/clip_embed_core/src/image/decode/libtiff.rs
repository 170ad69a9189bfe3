//! TIFFs the `tiff` crate cannot read (palette, CIE L*a*b*, YCbCr kinds it
//! lacks, ...), through libtiff's RGBA interface: the interface OpenCV's TIFF
//! decoder uses, so the pixels are the reference's.
//!
//! Only a fallback: libtiff is C with a long record of memory-safety fixes, and
//! in a backend a crash takes the whole server through recovery, so the common
//! TIFFs stay with the memory-safe decoder (measured pixel-identical to OpenCV).
//! libtiff reads from the bytes in memory, with its allocations capped and its
//! messages kept out of the server log.

use std::ffi::{c_char, c_int, c_void, CStr};

use image::RgbImage;

use super::jpeg;
use crate::cancel::poll;
use crate::cancel::CancelCheck;
use crate::error::{Error, Result};
use crate::image::limits::ImageLimits;
use crate::image::limits::{check_decode_bytes, check_pixels, OUTPUT_BYTES_PER_PIXEL};

type Tiff = c_void;
type TmSize = isize;
type TOff = u64;
type THandle = *mut c_void;
/// `int (*)(TIFF *, void *user_data, const char *module, const char *fmt, va_list)`;
/// on x86_64 and aarch64 Linux a `va_list` argument is passed as a pointer.
type ErrorHandler = unsafe extern "C" fn(*mut Tiff, *mut c_void, *const c_char, *const c_char, *mut c_void) -> c_int;

const TIFFTAG_IMAGEWIDTH: u32 = 256;
const TIFFTAG_IMAGELENGTH: u32 = 257;
const TIFFTAG_COMPRESSION: u32 = 259;
const TIFFTAG_STRIPOFFSETS: u32 = 273;
const TIFFTAG_ORIENTATION: u32 = 274;
const TIFFTAG_STRIPBYTECOUNTS: u32 = 279;
const TIFFTAG_TILEOFFSETS: u32 = 324;
const TIFFTAG_TILEBYTECOUNTS: u32 = 325;
const COMPRESSION_JPEG: u16 = 7;

#[link(name = "tiff")]
extern "C" {
    fn TIFFOpenOptionsAlloc() -> *mut c_void;
    fn TIFFOpenOptionsFree(options: *mut c_void);
    fn TIFFOpenOptionsSetMaxSingleMemAlloc(options: *mut c_void, max: TmSize);
    fn TIFFOpenOptionsSetErrorHandlerExtR(options: *mut c_void, handler: ErrorHandler, data: *mut c_void);
    fn TIFFOpenOptionsSetWarningHandlerExtR(options: *mut c_void, handler: ErrorHandler, data: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn TIFFClientOpenExt(
        name: *const c_char,
        mode: *const c_char,
        handle: THandle,
        read: unsafe extern "C" fn(THandle, *mut c_void, TmSize) -> TmSize,
        write: unsafe extern "C" fn(THandle, *mut c_void, TmSize) -> TmSize,
        seek: unsafe extern "C" fn(THandle, TOff, c_int) -> TOff,
        close: unsafe extern "C" fn(THandle) -> c_int,
        size: unsafe extern "C" fn(THandle) -> TOff,
        map: unsafe extern "C" fn(THandle, *mut *mut c_void, *mut TOff) -> c_int,
        unmap: unsafe extern "C" fn(THandle, *mut c_void, TOff),
        options: *mut c_void,
    ) -> *mut Tiff;
    fn TIFFClose(tif: *mut Tiff);
    fn TIFFGetField(tif: *mut Tiff, tag: u32, ...) -> c_int;
    fn TIFFRGBAImageOK(tif: *mut Tiff, message: *mut c_char) -> c_int;
    fn TIFFIsTiled(tif: *mut Tiff) -> c_int;
    fn TIFFNumberOfStrips(tif: *mut Tiff) -> u32;
    fn TIFFNumberOfTiles(tif: *mut Tiff) -> u32;
    fn TIFFStripSize64(tif: *mut Tiff) -> u64;
    fn TIFFTileSize64(tif: *mut Tiff) -> u64;
    fn TIFFReadRGBAImageOriented(
        tif: *mut Tiff,
        width: u32,
        height: u32,
        raster: *mut u32,
        orientation: c_int,
        stop_on_error: c_int,
    ) -> c_int;
}

/// The bytes libtiff reads, its read position, and the cancel check its reads
/// poll: libtiff reads each strip or tile as it decodes it, so a cancel stops
/// the decode at the next one (a failed read), and `cancelled` tells us why.
struct Source<'a> {
    bytes: &'a [u8],
    at: u64,
    cancel: Option<CancelCheck>,
    cancelled: bool,
}

/// The RGB pixels of a TIFF as stored (no orientation applied), and its
/// Orientation tag (1 when absent).
///
/// Memory: our raster (4 bytes per pixel) and libtiff's own allocations, each
/// capped at 8 bytes per pixel of the limit + 64 MiB (a single-strip 16-bit
/// RGBA image's strip), then a 3-byte-per-pixel copy while the raster lives.
pub(super) fn decode(bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<(RgbImage, u16)> {
    let mut source = Source { bytes, at: 0, cancel, cancelled: false };
    let mut first_error = [0u8; 256];
    // SAFETY: the options object is ours until freed below; libtiff copies what it needs at open.
    let tif = unsafe {
        let options = TIFFOpenOptionsAlloc();
        // Strips and tiles of an image within the pixel limit fit in this.
        let cap = limits.max_pixels.saturating_mul(OUTPUT_BYTES_PER_PIXEL).saturating_add(64 << 20);
        TIFFOpenOptionsSetMaxSingleMemAlloc(options, TmSize::try_from(cap).unwrap_or(TmSize::MAX));
        TIFFOpenOptionsSetErrorHandlerExtR(options, keep_first_message, first_error.as_mut_ptr().cast());
        TIFFOpenOptionsSetWarningHandlerExtR(options, ignore_message, std::ptr::null_mut());
        let tif = TIFFClientOpenExt(
            c"clip_embed_image".as_ptr(),
            c"rm".as_ptr(), // "m": read through our callbacks, never mmap a file
            std::ptr::from_mut(&mut source).cast(),
            read,
            write,
            seek,
            close,
            size,
            map,
            unmap,
            options,
        );
        TIFFOpenOptionsFree(options);
        tif
    };
    let failed = |what: &str, buffer: &[u8]| {
        let detail = CStr::from_bytes_until_nul(buffer).map(|m| m.to_string_lossy().into_owned()).unwrap_or_default();
        let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
        Error::InvalidImage(format!("{what}{detail}"))
    };
    if tif.is_null() {
        if source.cancelled {
            return Err(Error::Cancelled);
        }
        return Err(failed("libtiff could not open it", &first_error));
    }
    let result = read_open(tif, bytes, limits, cancel, &first_error, &failed);
    // SAFETY: `tif` is open and closed once; `source` outlives it.
    unsafe { TIFFClose(tif) };
    if source.cancelled {
        return Err(Error::Cancelled);
    }
    result
}

fn read_open(
    tif: *mut Tiff,
    bytes: &[u8],
    limits: &ImageLimits,
    cancel: Option<CancelCheck>,
    first_error: &[u8],
    failed: &dyn Fn(&str, &[u8]) -> Error,
) -> Result<(RgbImage, u16)> {
    let (mut width, mut height, mut orientation) = (0u32, 0u32, 1u16);
    // SAFETY: `tif` is open; each tag is read into the C type libtiff documents for it.
    unsafe {
        TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &mut width as *mut u32);
        TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &mut height as *mut u32);
        TIFFGetField(tif, TIFFTAG_ORIENTATION, &mut orientation as *mut u16);
    }
    check_pixels(width, height, limits)?;
    check_chunk_bytes(tif, width, height, limits)?;
    check_jpeg_work(tif, bytes, limits, cancel)?;
    let mut message = [0u8; 1024];
    // SAFETY: TIFFRGBAImageOK writes at most 1024 bytes, NUL-terminated, into `message`.
    if unsafe { TIFFRGBAImageOK(tif, message.as_mut_ptr().cast()) } == 0 {
        return Err(failed("libtiff's RGBA interface cannot read it", &message));
    }
    check_decode_bytes(width, height, "libtiff raster", u64::from(width) * u64::from(height) * 4, limits)?;
    let mut raster = vec![0u32; width as usize * height as usize];
    // Asking for the file's own orientation makes libtiff flip nothing: the
    // rows come as stored, and the caller applies the Exif orientation as it
    // does for every format.
    let stored = c_int::from(orientation.clamp(1, 8));
    // SAFETY: `raster` holds width x height pixels, as libtiff writes for these arguments.
    let ok = unsafe { TIFFReadRGBAImageOriented(tif, width, height, raster.as_mut_ptr(), stored, 1) };
    if ok == 0 {
        return Err(failed("libtiff failed while reading it", first_error));
    }
    // ABGR in a native u32: R in the low byte. Alpha is premultiplied by libtiff; OpenCV drops it.
    let pixels = raster.iter().flat_map(|&p| [p as u8, (p >> 8) as u8, (p >> 16) as u8]).collect();
    drop(raster);
    let image = RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| Error::InvalidImage("libtiff raster has the wrong size".into()))?;
    Ok((image, orientation))
}

/// Whether the file is tiled, its strips' or tiles' count (every plane's) and
/// the decompressed size of one.
fn chunks(tif: *mut Tiff) -> (bool, u32, u64) {
    // SAFETY: `tif` is open; these read its directory only.
    unsafe {
        if TIFFIsTiled(tif) != 0 {
            (true, TIFFNumberOfTiles(tif), TIFFTileSize64(tif))
        } else {
            (false, TIFFNumberOfStrips(tif), TIFFStripSize64(tif))
        }
    }
}

/// libtiff decompresses every strip or tile whole, however little of it the
/// image covers: tiles of 16,112 x 16,112 on a 1,048,576 x 16 image (16.7 M
/// pixels, inside the limits), all pointing at the same 1.1 MB of Deflate data,
/// made libtiff inflate 51 GB (10.4 s of CPU until a cancel). Their total is
/// held to the decoding budget, as every decoder's buffers are.
fn check_chunk_bytes(tif: *mut Tiff, width: u32, height: u32, limits: &ImageLimits) -> Result<()> {
    let (_, count, chunk_size) = chunks(tif);
    let total = u64::from(count).saturating_mul(chunk_size);
    check_decode_bytes(width, height, "decompressed strips or tiles", total, limits)
}

/// A JPEG-compressed TIFF (compression 7) is one JPEG datastream per strip or
/// tile, which libtiff hands to libjpeg: a progressive or arithmetic-coded
/// strip is as much a scan bomb as a JPEG file (libtiff's own limit is 100 scans
/// a strip: 99 arithmetic scans of one 8192x8192 strip took 9.2 s here, 99
/// Huffman ones 1.5 s). So the strips' scans are walked first
/// ([`jpeg::scan_work`]) and their work summed against the same budget as a
/// JPEG file's ([`jpeg::work_budget`]). Old-style JPEG (compression 6) needs
/// no walk: libtiff's OJPEG reader takes baseline and extended sequential
/// frames only, one scan each (it refused progressive and arithmetic ones here).
fn check_jpeg_work(tif: *mut Tiff, bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<()> {
    let mut compression = 1u16;
    // SAFETY: `tif` is open; Compression is read into a uint16_t as libtiff documents.
    unsafe { TIFFGetField(tif, TIFFTAG_COMPRESSION, &mut compression as *mut u16) };
    if compression != COMPRESSION_JPEG {
        return Ok(());
    }
    let (tiled, count, chunk_size) = chunks(tif);
    let (offsets_tag, counts_tag) = if tiled {
        (TIFFTAG_TILEOFFSETS, TIFFTAG_TILEBYTECOUNTS)
    } else {
        (TIFFTAG_STRIPOFFSETS, TIFFTAG_STRIPBYTECOUNTS)
    };
    let (mut offsets, mut counts): (*const u64, *const u64) = (std::ptr::null(), std::ptr::null());
    // SAFETY: `tif` is open; libtiff 4 gives these tags as pointers to its own
    // uint64_t arrays of one entry per strip (tile), alive while `tif` is open.
    let found = unsafe {
        TIFFGetField(tif, offsets_tag, &mut offsets as *mut *const u64) != 0
            && TIFFGetField(tif, counts_tag, &mut counts as *mut *const u64) != 0
    };
    if !found || offsets.is_null() || counts.is_null() {
        return Ok(()); // libtiff cannot read the strips either
    }
    // SAFETY: as above: `count` entries each, not changed while we read them.
    let (offsets, counts) = unsafe {
        (std::slice::from_raw_parts(offsets, count as usize), std::slice::from_raw_parts(counts, count as usize))
    };
    // libtiff reads at most this much of one strip or tile (TIFFFillStrip and
    // TIFFFillTile cut a larger byte count down to it), so neither do we:
    // overlapping strips cannot make this walk longer than libtiff's reads.
    let most = chunk_size.saturating_mul(10).saturating_add(4096).max(1 << 20);
    let budget = jpeg::work_budget(limits);
    let mut work = 0u64;
    for (i, (&offset, &length)) in offsets.iter().zip(counts).enumerate() {
        poll(cancel)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let length = usize::try_from(length.min(most)).unwrap_or(usize::MAX).min(bytes.len() - start);
        work = work.saturating_add(jpeg::scan_work(&bytes[start..start + length]).work);
        if work > budget {
            return Err(Error::LimitExceeded(format!(
                "JPEG-compressed TIFF needs {work} units of decoding work (weighted block decodes) in {} of its \
                 {count} strips or tiles, over the limit of {budget} (clip_embed.max_image_pixels, at least {})",
                i + 1,
                jpeg::MIN_WORK_BUDGET
            )));
        }
    }
    Ok(())
}

unsafe extern "C" fn keep_first_message(
    _tif: *mut Tiff,
    buffer: *mut c_void,
    module: *const c_char,
    format: *const c_char,
    _args: *mut c_void,
) -> c_int {
    // The format string without its arguments: enough to say what failed, and
    // no va_list handling across the FFI boundary.
    // SAFETY: `buffer` is the 256-byte array given at open; libtiff passes C strings or null.
    unsafe {
        let out = std::slice::from_raw_parts_mut(buffer.cast::<u8>(), 256);
        if out[0] == 0 {
            let text = |p: *const c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            let message = format!("{}: {}", text(module), text(format));
            let n = message.len().min(255);
            out[..n].copy_from_slice(&message.as_bytes()[..n]);
            out[n] = 0;
        }
    }
    1 // handled: libtiff does not print it
}

unsafe extern "C" fn ignore_message(
    _tif: *mut Tiff,
    _data: *mut c_void,
    _module: *const c_char,
    _format: *const c_char,
    _args: *mut c_void,
) -> c_int {
    1
}

unsafe extern "C" fn read(handle: THandle, buffer: *mut c_void, length: TmSize) -> TmSize {
    // SAFETY: `handle` is the Source given at open, alive while the TIFF is open;
    // libtiff's buffer has room for `length` bytes.
    unsafe {
        let source = &mut *handle.cast::<Source>();
        if source.cancelled || poll(source.cancel).is_err() {
            source.cancelled = true;
            return -1; // a read error: libtiff stops reading
        }
        let start = usize::try_from(source.at).unwrap_or(usize::MAX).min(source.bytes.len());
        let n = usize::try_from(length).unwrap_or(0).min(source.bytes.len() - start);
        std::ptr::copy_nonoverlapping(source.bytes.as_ptr().add(start), buffer.cast::<u8>(), n);
        source.at = (start + n) as u64;
        n as TmSize
    }
}

unsafe extern "C" fn write(_handle: THandle, _buffer: *mut c_void, _length: TmSize) -> TmSize {
    0
}

unsafe extern "C" fn seek(handle: THandle, offset: TOff, whence: c_int) -> TOff {
    // SAFETY: as in `read`.
    let source = unsafe { &mut *handle.cast::<Source>() };
    let base = match whence {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => source.at,
        libc::SEEK_END => source.bytes.len() as u64,
        _ => return u64::MAX,
    };
    // `offset` is a signed offset carried in an unsigned type for SEEK_CUR/SEEK_END.
    match base.checked_add_signed(offset as i64) {
        Some(at) => {
            source.at = at;
            at
        }
        None => u64::MAX,
    }
}

unsafe extern "C" fn close(_handle: THandle) -> c_int {
    0
}

unsafe extern "C" fn size(handle: THandle) -> TOff {
    // SAFETY: as in `read`.
    let source = unsafe { &*handle.cast::<Source>() };
    source.bytes.len() as u64
}

unsafe extern "C" fn map(_handle: THandle, _base: *mut *mut c_void, _size: *mut TOff) -> c_int {
    0
}

unsafe extern "C" fn unmap(_handle: THandle, _base: *mut c_void, _size: TOff) {}
