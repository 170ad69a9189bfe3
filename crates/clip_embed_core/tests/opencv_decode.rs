//! Decoding against OpenCV 4.10: every file of the fixtures that
//! tools/{bmp,tiff,jpeg_orientation}_cases.py write (through
//! tools/opencv_cases.py) gives exactly the RGB pixels `cv2.imdecode(buf,
//! IMREAD_COLOR)` gave, or is refused where it gave None.
//! - bmp_cases.json: bitfields, RLE skips, OS/2 and odd headers;
//! - tiff_cases.json: 8- and 16-bit, either byte order, strips or tiles, chunky
//!   or planar, raw, LZW or LZW with the predictor, associated, unassociated,
//!   unspecified and undeclared alpha, 16-bit files as tifffile writes them;
//! - jpeg_orientation_cases.json: the orientation comes from the first APP1
//!   before the first scan, whatever it holds, and never from an appended
//!   Ultra HDR gain map.

mod common;

use clip_embed_core::image::decode::decode_rgb;
use clip_embed_core::{Error, ImageLimits};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    /// The file's bytes, hex; the key names its format.
    #[serde(alias = "bmp", alias = "tiff", alias = "jpeg")]
    file: String,
    /// None: OpenCV refuses the file.
    expected: Option<Expected>,
}

#[derive(serde::Deserialize)]
struct Expected {
    width: u32,
    height: u32,
    rgb: String,
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn cases(fixture: &str) -> Vec<Case> {
    serde_json::from_slice(&common::data(fixture)).unwrap()
}

/// Every case of `fixture` (at least `min_cases`) decodes to OpenCV's pixels or is refused as OpenCV refuses it.
fn check_fixture(fixture: &str, min_cases: usize) {
    let cases = cases(fixture);
    assert!(cases.len() >= min_cases, "{fixture}: {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        match (&case.expected, decode_rgb(&unhex(&case.file), &ImageLimits::DEFAULT)) {
            (None, Err(Error::InvalidImage(_))) => {}
            (Some(e), Ok(image)) => {
                let expected = unhex(&e.rgb);
                if image.dimensions() != (e.width, e.height) {
                    failures.push(format!("{}: {:?}, OpenCV {}x{}", case.name, image.dimensions(), e.width, e.height));
                } else if image.as_raw() != &expected {
                    let diff = image.as_raw().iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max();
                    let differing = image.as_raw().iter().zip(&expected).filter(|(a, b)| a != b).count();
                    failures.push(format!("{}: {differing} samples differ, by up to {diff:?}", case.name));
                }
            }
            (None, Ok(_)) => failures.push(format!("{}: decoded, OpenCV refuses it", case.name)),
            (_, Err(error)) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn case_bytes(fixture: &str, name: &str) -> Vec<u8> {
    unhex(&cases(fixture).into_iter().find(|c| c.name == name).unwrap().file)
}

#[test]
fn every_bmp_case_decodes_as_opencv_does() {
    check_fixture("bmp_cases.json", 50);
}

#[test]
fn every_tiff_case_decodes_as_opencv_does() {
    check_fixture("tiff_cases.json", 78);
}

#[test]
fn every_jpeg_orientation_case_decodes_as_opencv_does() {
    // OpenCV decodes every one of these: none may be refused.
    assert!(cases("jpeg_orientation_cases.json").iter().all(|c| c.expected.is_some()));
    check_fixture("jpeg_orientation_cases.json", 40);
}

#[test]
fn a_bmp_over_the_pixel_limit_is_refused_before_decoding() {
    let rle = case_bytes("bmp_cases.json", "rle8 delta and early end");
    let small = ImageLimits { max_bytes: 1 << 20, max_pixels: 62 };
    let error = decode_rgb(&rle, &small).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded(_)), "{error}");
}

#[test]
fn a_tiled_planar_tiff_over_the_pixel_limit_is_refused_before_decoding() {
    // Tiled + planar TIFFs go to libtiff, whose pixel check runs before its raster is allocated.
    let tiff = case_bytes("tiff_cases.json", "rgba16 II associated tiled planar lzw");
    let small = ImageLimits { max_bytes: 1 << 20, max_pixels: 37 * 23 - 1 };
    let error = decode_rgb(&tiff, &small).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded(_)), "{error}");
    assert!(decode_rgb(&tiff, &ImageLimits { max_pixels: 37 * 23, ..small }).is_ok());
}
