//! Decodes image files as `clip_embed_image` does and writes each as raw 8-bit
//! RGB, for pixel comparisons with the reference's `cv2.imdecode`
//! (tools/decode_check.py). Usage: decode_rgb OUT_DIR FILE...
//! Writes OUT_DIR/<file name>.rgb and prints "<file name> <width> <height>",
//! or "<file name> error <message>".
use std::path::Path;

use clip_embed_core::image::decode::decode_rgb;
use clip_embed_core::ImageLimits;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: decode_rgb OUT_DIR FILE...");
    let limits = ImageLimits { max_bytes: 1 << 30, max_pixels: 89_478_485 };
    for file in args {
        let name = Path::new(&file).file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&file).expect("readable file");
        match decode_rgb(&bytes, &limits) {
            Ok(image) => {
                std::fs::write(Path::new(&out).join(format!("{name}.rgb")), image.as_raw()).expect("writable OUT_DIR");
                println!("{name} {} {}", image.width(), image.height());
            }
            Err(e) => println!("{name} error {e}"),
        }
    }
}
