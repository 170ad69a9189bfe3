//! TIFF decoding against OpenCV 4.10: every file of tests/data/tiff_cases.json
//! (tools/tiff_cases.py) gives exactly the RGB pixels `cv2.imdecode(buf,
//! IMREAD_COLOR)` gave, or is refused where it gave None: 8- and 16-bit,
//! either byte order, strips or tiles, chunky or planar, raw, LZW or LZW with
//! the predictor, associated, unassociated, unspecified and undeclared alpha,
//! and 16-bit files as tifffile writes them.

use clip_embed_core::image::decode::decode_rgb;
use clip_embed_core::{Error, ImageLimits};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    tiff: String,
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

#[test]
fn every_tiff_case_decodes_as_opencv_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiff_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 78, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let ours = decode_rgb(&unhex(&case.tiff), &ImageLimits::DEFAULT);
        match (&case.expected, ours) {
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

#[test]
fn a_tiled_planar_tiff_over_the_pixel_limit_is_refused_before_decoding() {
    // Tiled + planar TIFFs go to libtiff, whose pixel check runs before its raster is allocated.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiff_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = cases.iter().find(|c| c.name == "rgba16 II associated tiled planar lzw").unwrap();
    let small = ImageLimits { max_bytes: 1 << 20, max_pixels: 37 * 23 - 1 };
    let error = decode_rgb(&unhex(&case.tiff), &small).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded(_)), "{error}");
    assert!(decode_rgb(&unhex(&case.tiff), &ImageLimits { max_pixels: 37 * 23, ..small }).is_ok());
}
