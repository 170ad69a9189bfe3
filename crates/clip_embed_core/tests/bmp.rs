//! BMP decoding against OpenCV 4.10: every file of tests/data/bmp_cases.json
//! (tools/bmp_cases.py) gives exactly the RGB pixels `cv2.imdecode(buf,
//! IMREAD_COLOR)` gave, or is refused where it gave None.

use clip_embed_core::image::decode::decode_rgb;
use clip_embed_core::{Error, ImageLimits};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    bmp: String,
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
fn every_bmp_case_decodes_as_opencv_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bmp_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let ours = decode_rgb(&unhex(&case.bmp), &ImageLimits::DEFAULT);
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
fn a_bmp_over_the_pixel_limit_is_refused_before_decoding() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bmp_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rle = cases.iter().find(|c| c.name == "rle8 delta and early end").unwrap();
    let small = ImageLimits { max_bytes: 1 << 20, max_pixels: 62 };
    let error = decode_rgb(&unhex(&rle.bmp), &small).unwrap_err();
    assert!(matches!(error, Error::LimitExceeded(_)), "{error}");
}
