//! Images: encoded bytes to the vision tower's input.
//!
//! * [`decode`]: bytes to upright 8-bit RGB as the seed's OpenCV decodes them
//!   (JPEG through libjpeg-turbo, TIFF through libtiff, the rest memory-safe);
//!   adding an image format is a file here
//! * [`limits`](ImageLimits): what every decoder checks before it allocates
//! * [`preprocess`]: the family's [`ImageRecipe`](crate::recipe::ImageRecipe)
//!   on that image (resize, crop, normalise)
//! * [`pil_resample`]: Pillow's bicubic and bilinear resamplers, ported for exact parity

pub mod decode;
pub mod limits;
pub mod pil_resample;
pub mod preprocess;

pub use limits::ImageLimits;
pub use preprocess::{preprocess, preprocess_cancellable};
