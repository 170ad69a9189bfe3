//! BMP, read as OpenCV 4.10's own reader (modules/imgcodecs/src/grfmt_bmp.cpp)
//! reads it, which is not what the BMP specification or the `image` crate
//! says. Measured against `cv2.imdecode(buf, IMREAD_COLOR)` on the 61 files of
//! tools/bmp_cases.py (tests/data/bmp_cases.json), where the `image` crate
//! gave cosines of 0.72 to 0.99 or refused:
//! * a header of 36 bytes or more is a BITMAPINFOHEADER, whatever its size
//!   (OS/2 v2's 64 bytes, 66, V4's 108, V5's 124); 12 bytes is OS/2 v1 (u16
//!   sides, 3-byte palette entries); any other size is refused. The planes
//!   field is never read;
//! * 32-bit pixels are B, G, R, X bytes, except where BI_BITFIELDS masks sit
//!   in a header of 56 bytes or more (V3, V4, V5) and none of red, green and
//!   blue is zero: then each channel is its masked bits scaled to 0-255 (see
//!   [`Mask`]; an 11-11-10 pixel too). Masks after a 40-byte header, and the
//!   alpha mask, are never read;
//! * 16-bit BI_BITFIELDS takes only the 5-6-5 and 5-5-5 masks that follow a
//!   header (not those inside a V4 or V5 header), and expands a sample by a
//!   shift without replicating its high bits (5 bits `v` become `v << 3`);
//! * the palette follows the header (not the pixel offset), holds `clrused`
//!   entries or 2^bpp, and indices past it are black;
//! * RLE8: delta skips, end-of-line and an early end of bitmap fill what they
//!   skip with palette entry 0; RLE4 does the same for end of line and delta,
//!   but a delta only moves along (its row count is ignored) and an end of
//!   bitmap only fills its own row, so one before the last row is followed by
//!   a read past the data: refused;
//! * a run past its row, or pixel data shorter than its rows (padding
//!   included), is refused: OpenCV throws and `imdecode` returns None.
//!
//! Cost: the header and palette are read first; an uncompressed image needs
//! all its rows in the input before the 3 P output is allocated (P pixels,
//! checked against the limits); an RLE image may fill the whole output from a
//! few bytes, within the same 3 P. Cancel is polled every row and every 64 Ki
//! RLE commands. Speed (6000x4000, the dev profile's opt-level 2): 24-bit in
//! 51-57 ms, 8-bit palette in 55 ms, against 60-67 ms and 48-52 ms for the
//! `image` crate's decoder, which gave the same pixels for both.

use image::RgbImage;

use crate::cancel::{poll, CancelCheck};
use crate::error::{Error, Result};
use crate::image::limits::{check_pixels, ImageLimits};

const BI_RGB: u32 = 0;
const BI_RLE8: u32 = 1;
const BI_RLE4: u32 = 2;
const BI_BITFIELDS: u32 = 3;

/// RLE commands between two polls of the cancel check: each reads two input
/// bytes and writes at most one row, so 64 Ki of them are well under a millisecond
/// unless they wrap rows (and every row change polls too).
const RLE_POLL_COMMANDS: u32 = 1 << 16;

/// How the pixels of a BMP are laid out, as OpenCV's `readHeader` leaves it.
struct Header {
    offset: usize,
    width: u32,
    height: u32,
    bottom_up: bool,
    /// Bits per pixel, 15 for 16-bit 5-5-5 (OpenCV's own convention).
    bpp: u32,
    compression: u32,
    /// RGB, 256 entries, black past those the file gives.
    palette: [[u8; 3]; 256],
    /// A 32-bit BI_BITFIELDS file's red, green and blue masks, where its header
    /// holds them (56 bytes or more) and none is zero.
    masks: Option<[Mask; 3]>,
}

/// One channel of a 32-bit BI_BITFIELDS pixel as OpenCV 4.10 scales it: the
/// masked bits, shifted down, times `255 / (mask >> shift)` in f32, truncated.
/// Measured: an 11-bit sample of 1346 gives 167 (167.68); a 0xf0f mask's 0x909
/// gives 152 where exact arithmetic gives 153 (f32's 255/3855 is a little low).
#[derive(Clone, Copy)]
struct Mask {
    mask: u32,
    shift: u32,
    scale: f32,
}

impl Mask {
    fn new(mask: u32) -> Mask {
        let shift = mask.trailing_zeros();
        Mask { mask, shift, scale: 255.0 / (mask >> shift) as f32 }
    }

    fn apply(self, pixel: u32) -> u8 {
        (((pixel & self.mask) >> self.shift) as f32 * self.scale) as u8
    }
}

/// The input as OpenCV's `RLByteStream` reads it: a read past the end is an
/// error (OpenCV throws "Unexpected end of input stream").
struct Stream<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Stream<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(truncated)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: usize) {
        self.at = self.at.saturating_add(n);
    }
}

fn truncated() -> Error {
    Error::InvalidImage("BMP data ends early".into())
}

fn unsupported(what: String) -> Error {
    Error::InvalidImage(format!("unsupported BMP: {what} (OpenCV 4.10 does not decode it)"))
}

fn read_header(bytes: &[u8]) -> Result<Header> {
    let mut s = Stream { bytes, at: 10 };
    let offset = s.u32()?;
    let size = s.u32()?;
    let mut palette = [[0u8; 3]; 256];
    let mut masks = None;
    // OpenCV reads both as `int`: a size of 2^31 or more asserts, an offset of
    // 2^31 or more makes `readData` fail.
    if size == 0 || size > i32::MAX as u32 {
        return Err(unsupported(format!("header size {size}")));
    }
    let (width, height, bpp, compression) = if size >= 36 {
        let width = s.u32()? as i32;
        let height = s.u32()? as i32;
        let bpp = s.u32()? >> 16;
        let compression = s.u32()?;
        s.skip(12);
        let clrused = s.u32()? as i32;
        if bpp == 32 && compression == BI_BITFIELDS && size >= 56 {
            s.skip(4);
            let (r, g, b) = (s.u32()?, s.u32()?, s.u32()?);
            masks = (r != 0 && g != 0 && b != 0).then(|| [r, g, b].map(Mask::new));
            s.skip(size as usize - 52);
        } else {
            s.skip(size as usize - 36);
        }
        let valid = width > 0
            && height != 0
            && (matches!((bpp, compression), (1 | 4 | 8 | 24 | 32, BI_RGB) | (16 | 32, BI_RGB | BI_BITFIELDS))
                || (bpp, compression) == (4, BI_RLE4)
                || (bpp, compression) == (8, BI_RLE8));
        if !valid {
            return Err(unsupported(format!("{width}x{height}, {bpp} bits, compression {compression}")));
        }
        let mut bpp = bpp;
        if bpp <= 8 {
            if !(0..=256).contains(&clrused) {
                return Err(unsupported(format!("{clrused} palette entries")));
            }
            let entries = if clrused == 0 { 1 << bpp } else { clrused as usize };
            for (entry, bgrx) in palette.iter_mut().zip(s.take(entries * 4)?.chunks_exact(4)) {
                *entry = [bgrx[2], bgrx[1], bgrx[0]];
            }
        } else if bpp == 16 && compression == BI_BITFIELDS {
            let masks = (s.u32()?, s.u32()?, s.u32()?);
            match masks {
                (0x7c00, 0x3e0, 0x1f) => bpp = 15,
                (0xf800, 0x7e0, 0x1f) => {}
                (r, g, b) => return Err(unsupported(format!("16-bit masks {r:#x}, {g:#x}, {b:#x}"))),
            }
        } else if bpp == 16 {
            bpp = 15;
        }
        (width, height, bpp, compression)
    } else if size == 12 {
        let width = i32::from(s.u16()?);
        let height = i32::from(s.u16()?);
        let bpp = s.u32()? >> 16;
        if width == 0 || height == 0 || !matches!(bpp, 1 | 4 | 8 | 24 | 32) {
            return Err(unsupported(format!("OS/2 {width}x{height}, {bpp} bits")));
        }
        if bpp <= 8 {
            for (entry, bgr) in palette.iter_mut().zip(s.take(3 << bpp)?.chunks_exact(3)) {
                *entry = [bgr[2], bgr[1], bgr[0]];
            }
        }
        (width, height, bpp, BI_RGB)
    } else {
        return Err(unsupported(format!("header size {size}")));
    };
    let offset = usize::try_from(offset).ok().filter(|_| offset <= i32::MAX as u32).ok_or_else(truncated)?;
    Ok(Header {
        offset,
        width: width as u32,
        height: height.unsigned_abs(),
        bottom_up: height > 0,
        bpp,
        compression,
        palette,
        masks,
    })
}

/// Decodes a BMP to RGB as `cv2.imdecode(..., IMREAD_COLOR)` does (see the module docs).
pub(super) fn decode(bytes: &[u8], limits: &ImageLimits, cancel: Option<CancelCheck>) -> Result<RgbImage> {
    let header = read_header(bytes)?;
    let (width, height) = (header.width, header.height);
    check_pixels(width, height, limits)?;
    let (w, h) = (width as usize, height as usize);
    let mut out = Output { rgb: Vec::new(), width: w, height: h, bottom_up: header.bottom_up };
    match header.compression {
        BI_RLE8 | BI_RLE4 => {
            out.rgb = vec![0; 3 * w * h];
            let mut s = Stream { bytes, at: header.offset };
            if header.compression == BI_RLE8 {
                rle8(&mut s, &header, &mut out, cancel)?;
            } else {
                rle4(&mut s, &header, &mut out, cancel)?;
            }
        }
        _ => {
            let bits = if header.bpp == 15 { 16 } else { header.bpp as usize };
            let pitch = ((w * bits).div_ceil(8) + 3) & !3;
            let data =
                bytes.get(header.offset..).and_then(|rest| rest.get(..pitch.checked_mul(h)?)).ok_or_else(truncated)?;
            out.rgb = vec![0; 3 * w * h];
            for (y, src) in data.chunks_exact(pitch).enumerate() {
                poll(cancel)?;
                let row = out.row(y);
                match header.masks {
                    Some(masks) => {
                        for (px, v) in row.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                            let pixel = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                            px.copy_from_slice(&masks.map(|m| m.apply(pixel)));
                        }
                    }
                    None => unpack_row(row, src, header.bpp, &header.palette),
                }
            }
        }
    }
    RgbImage::from_raw(width, height, out.rgb)
        .ok_or_else(|| Error::InvalidImage("decoded image has the wrong size".into()))
}

/// One row of uncompressed pixels `src` to RGB.
fn unpack_row(row: &mut [u8], src: &[u8], bpp: u32, palette: &[[u8; 3]; 256]) {
    let pixels = row.chunks_exact_mut(3);
    match bpp {
        1 => {
            for (i, px) in pixels.enumerate() {
                px.copy_from_slice(&palette[usize::from(src[i / 8] >> (7 - i % 8) & 1)]);
            }
        }
        4 => {
            for (i, px) in pixels.enumerate() {
                px.copy_from_slice(&palette[usize::from(src[i / 2] >> (4 - 4 * (i % 2)) & 15)]);
            }
        }
        8 => {
            for (px, &index) in pixels.zip(src) {
                let [r, g, b] = palette[usize::from(index)];
                (px[0], px[1], px[2]) = (r, g, b);
            }
        }
        // OpenCV's icvCvt_BGR5552BGR and icvCvt_BGR5652BGR: shifts, low bits zero.
        15 => {
            for (px, v) in pixels.zip(src.chunks_exact(2)) {
                let t = u16::from_le_bytes([v[0], v[1]]);
                px.copy_from_slice(&[(t >> 7) as u8 & !7, (t >> 2) as u8 & !7, (t << 3) as u8]);
            }
        }
        16 => {
            for (px, v) in pixels.zip(src.chunks_exact(2)) {
                let t = u16::from_le_bytes([v[0], v[1]]);
                px.copy_from_slice(&[(t >> 8) as u8 & !7, (t >> 3) as u8 & !3, (t << 3) as u8]);
            }
        }
        24 => {
            for (px, v) in pixels.zip(src.chunks_exact(3)) {
                (px[0], px[1], px[2]) = (v[2], v[1], v[0]);
            }
        }
        _ => {
            for (px, v) in pixels.zip(src.chunks_exact(4)) {
                (px[0], px[1], px[2]) = (v[2], v[1], v[0]);
            }
        }
    }
}

/// The RGB output, addressed by the row being decoded (bottom row first for a
/// bottom-up file).
struct Output {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
    bottom_up: bool,
}

impl Output {
    fn row(&mut self, y: usize) -> &mut [u8] {
        let display = if self.bottom_up { self.height - 1 - y } else { y };
        let start = 3 * self.width * display;
        &mut self.rgb[start..start + 3 * self.width]
    }
}

/// Where RLE decoding stands: the row being decoded and the pixel in it.
struct Cursor {
    x: usize,
    y: usize,
}

/// OpenCV's `FillUniColor`: `count` pixels of `colour` from the cursor on,
/// wrapping to the next row (and always moving on from a full row), stopping
/// after the last row.
fn fill(
    out: &mut Output,
    at: &mut Cursor,
    mut count: usize,
    colour: [u8; 3],
    cancel: Option<CancelCheck>,
) -> Result<()> {
    loop {
        let end = (at.x + count).min(out.width);
        count -= end - at.x;
        let x = at.x;
        for px in out.row(at.y)[3 * x..3 * end].chunks_exact_mut(3) {
            px.copy_from_slice(&colour);
        }
        at.x = end;
        if at.x >= out.width {
            poll(cancel)?;
            at.x = 0;
            at.y += 1;
            if at.y >= out.height {
                break;
            }
        }
        if count == 0 {
            break;
        }
    }
    Ok(())
}

/// The next RLE command (a count and a code byte), polling `cancel` every
/// [`RLE_POLL_COMMANDS`] commands.
fn next_rle_command(s: &mut Stream<'_>, commands: &mut u32, cancel: Option<CancelCheck>) -> Result<(usize, u8)> {
    *commands = commands.wrapping_add(1);
    if commands.is_multiple_of(RLE_POLL_COMMANDS) {
        poll(cancel)?;
    }
    Ok((usize::from(s.byte()?), s.byte()?))
}

fn run_past_row() -> Error {
    Error::InvalidImage("BMP run goes past the end of its row (OpenCV 4.10 refuses it)".into())
}

/// OpenCV's RLE8 loop: runs, absolute runs, and end of line, end of bitmap
/// and delta filling what they skip with palette entry 0.
fn rle8(s: &mut Stream<'_>, header: &Header, out: &mut Output, cancel: Option<CancelCheck>) -> Result<()> {
    let (w, h) = (out.width, out.height);
    let mut at = Cursor { x: 0, y: 0 };
    // Whether the last run ended its row (an end of line right after it adds no row).
    let mut wrapped = false;
    let mut commands = 0u32;
    loop {
        let (len, code) = next_rle_command(s, &mut commands, cancel)?;
        if len != 0 {
            if at.x + len > w {
                return Err(run_past_row());
            }
            let y = at.y;
            fill(out, &mut at, len, header.palette[usize::from(code)], cancel)?;
            wrapped = at.y != y;
            if at.y >= h {
                break;
            }
        } else if code > 2 {
            let n = usize::from(code);
            if at.x + n > w {
                return Err(run_past_row());
            }
            let src = s.take((n + 1) & !1)?;
            let x = at.x;
            for (px, &index) in out.row(at.y)[3 * x..3 * (x + n)].chunks_exact_mut(3).zip(src) {
                px.copy_from_slice(&header.palette[usize::from(index)]);
            }
            at.x += n;
            wrapped = false;
        } else {
            let mut x_skip = w - at.x;
            let mut y_skip = h - at.y;
            if code != 0 || !wrapped || x_skip < w {
                if code == 2 {
                    x_skip = usize::from(s.byte()?);
                    y_skip = usize::from(s.byte()?);
                }
                if code != 0 {
                    x_skip += y_skip * w;
                }
                fill(out, &mut at, x_skip, header.palette[0], cancel)?;
            }
            wrapped = false;
            if at.y >= h {
                break;
            }
        }
    }
    Ok(())
}

/// OpenCV's RLE4 loop, which differs from its RLE8 one: runs never wrap, a
/// delta's row count is ignored, and end of bitmap fills only its row.
fn rle4(s: &mut Stream<'_>, header: &Header, out: &mut Output, cancel: Option<CancelCheck>) -> Result<()> {
    let w = out.width;
    let mut at = Cursor { x: 0, y: 0 };
    let mut commands = 0u32;
    loop {
        let (len, code) = next_rle_command(s, &mut commands, cancel)?;
        if len != 0 || code > 2 {
            // A run of `len` alternating nibbles of `code`, or `code` nibbles read.
            let n = if len != 0 { len } else { usize::from(code) };
            if at.x + n > w {
                return Err(run_past_row());
            }
            let packed: &[u8] = if len != 0 { &[code] } else { s.take((n.div_ceil(2) + 1) & !1)? };
            let x = at.x;
            for (i, px) in out.row(at.y)[3 * x..3 * (x + n)].chunks_exact_mut(3).enumerate() {
                let pair = packed[if len != 0 { 0 } else { i / 2 }];
                let index = if i % 2 == 0 { pair >> 4 } else { pair & 15 };
                px.copy_from_slice(&header.palette[usize::from(index)]);
            }
            at.x += n;
        } else {
            let mut x_skip = w - at.x;
            if code == 2 {
                x_skip = usize::from(s.byte()?);
                s.byte()?;
            }
            fill(out, &mut at, x_skip, header.palette[0], cancel)?;
            if at.y >= out.height {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40-byte-header BMP of `width` x `height` with an 8-bit palette of
    /// 256 entries and `pixels` at the offset.
    fn bmp8(width: i32, height: i32, compression: u32, pixels: &[u8]) -> Vec<u8> {
        let offset = 14 + 40 + 1024u32;
        let mut out = b"BM".to_vec();
        for v in [offset + pixels.len() as u32, 0, offset, 40] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
        out.extend_from_slice(&(8u32 << 16 | 1).to_le_bytes());
        for v in [compression, 0, 0, 0, 0, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend((0..=255u8).flat_map(|i| [i, i / 2, 255 - i, 0]));
        out.extend_from_slice(pixels);
        out
    }

    #[test]
    fn rows_and_rle_fills_poll_the_cancel_check() {
        let limits = ImageLimits::DEFAULT;
        let plain = bmp8(4, 3, BI_RGB, &[7; 12]);
        // An end of bitmap first: every row is filled without a byte read.
        let rle = bmp8(4000, 3000, BI_RLE8, &[0, 1]);
        for file in [&plain, &rle] {
            let image = decode(file, &limits, None).unwrap();
            assert!(matches!(decode(file, &limits, Some(|| true)), Err(Error::Cancelled)));
            assert_eq!(image.get_pixel(0, 0).0, if file == &plain { [255 - 7, 3, 7] } else { [255, 0, 0] });
        }
    }

    #[test]
    fn uncompressed_rows_must_all_be_there_before_the_output_is_made() {
        // 100000 x 800 declared, 10 bytes given: refused as short, not allocated.
        let error = decode(&bmp8(100_000, 800, BI_RGB, &[0; 10]), &ImageLimits::DEFAULT, None).unwrap_err();
        assert!(error.to_string().contains("ends early"), "{error}");
    }
}
