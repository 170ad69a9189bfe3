//! JPEG through libjpeg-turbo's TurboJPEG API, which OpenCV's build also uses
//! (3.0.3 there, Debian's 2.1.5 here: accurate integer IDCT and fancy
//! upsampling in both, so colour JPEGs decode to the same pixels).
use std::ffi::CStr;

use image::RgbImage;
use turbojpeg::raw;

use super::check_pixels;
use crate::error::{Error, Result};
use crate::preprocess::ImageLimits;

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
        } else {
            Err(Error::InvalidImage(format!("could not decode Jpeg image: {message}")))
        }
    }
}

pub(super) fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    let length =
        libc::c_ulong::try_from(bytes.len()).map_err(|_| Error::LimitExceeded("JPEG too large for libjpeg".into()))?;
    // SAFETY: tjInitDecompress has no preconditions; a null handle is checked.
    let handle = Handle(unsafe { raw::tjInitDecompress() });
    if handle.0.is_null() {
        return Err(Error::InvalidImage("could not start the JPEG decoder".into()));
    }
    let (mut width, mut height, mut subsampling, mut colorspace) = (0, 0, 0, 0);
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
    let cmyk = matches!(colorspace as u32, raw::TJCS_TJCS_CMYK | raw::TJCS_TJCS_YCCK);
    let (format, channels) = if cmyk { (raw::TJPF_TJPF_CMYK, 4) } else { (raw::TJPF_TJPF_RGB, 3) };
    let pitch = w as usize * channels;
    let mut pixels = vec![0u8; pitch * h as usize];
    // SAFETY: `pixels` holds pitch x height bytes, as tjDecompress2 writes for this size and format.
    handle.check(unsafe {
        raw::tjDecompress2(
            handle.0,
            bytes.as_ptr(),
            length,
            pixels.as_mut_ptr(),
            width,
            pitch as libc::c_int,
            height,
            format as libc::c_int,
            0,
        )
    })?;
    if cmyk {
        pixels = pixels.chunks_exact(4).flat_map(cmyk_to_rgb_like_opencv).collect();
    }
    Ok(RgbImage::from_raw(w, h, pixels).expect("3 bytes per pixel"))
}

/// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R` on libjpeg's raw (Adobe-inverted) samples.
fn cmyk_to_rgb_like_opencv(cmyk: &[u8]) -> [u8; 3] {
    let k = i32::from(cmyk[3]);
    [0, 1, 2].map(|i| (k - (((255 - i32::from(cmyk[i])) * k) >> 8)) as u8)
}
