//! JPEG EXIF orientation against OpenCV 4.10: every file of
//! tests/data/jpeg_orientation_cases.json (tools/jpeg_orientation_cases.py)
//! decodes to exactly the RGB pixels `cv2.imdecode(buf, IMREAD_COLOR)` gave:
//! the orientation comes from the first APP1 before the first scan, whatever
//! it holds, and never from an appended Ultra HDR gain map.

use clip_embed_core::image::decode::decode_rgb;
use clip_embed_core::ImageLimits;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    jpeg: String,
    expected: Expected,
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
fn every_jpeg_orientation_case_decodes_as_opencv_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jpeg_orientation_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let e = &case.expected;
        match decode_rgb(&unhex(&case.jpeg), &ImageLimits::DEFAULT) {
            Ok(image) if image.dimensions() != (e.width, e.height) => {
                failures.push(format!("{}: {:?}, OpenCV {}x{}", case.name, image.dimensions(), e.width, e.height));
            }
            Ok(image) => {
                let expected = unhex(&e.rgb);
                if image.as_raw() != &expected {
                    let diff = image.as_raw().iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max();
                    let differing = image.as_raw().iter().zip(&expected).filter(|(a, b)| a != b).count();
                    failures.push(format!("{}: {differing} samples differ, by up to {diff:?}", case.name));
                }
            }
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
