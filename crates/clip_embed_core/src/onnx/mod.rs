//! ONNX Runtime: the shared library ([`Runtime`]), sessions created
//! cancellably (`session`), towers that run them ([`Tower`]), and the
//! external-data files a graph names ([`external_data`]).

pub mod external_data;
mod runtime;
mod session;
mod tower;

pub use runtime::Runtime;
pub use session::{bind_session, create_session, create_session_from_bytes, TowerKind};
pub use tower::Tower;
