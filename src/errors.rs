//! Core errors to Postgres errors: one SQLSTATE per [`ErrorKind`], raised only
//! after every borrow of backend state is released (an ERROR unwinds).
//!
//! | kind | SQLSTATE |
//! |---|---|
//! | corrupt, empty or unknown-format image | 22P03 invalid_binary_representation |
//! | over a byte or pixel limit | 54000 program_limit_exceeded |
//! | bad argument (empty text, empty array) | 22023 invalid_parameter_value |
//! | arrays of different lengths | 22000 data_exception |
//! | NaN or infinite element, array of more than one dimension | 22000 data_exception |
//! | NULL in an array | 22004 null_value_not_allowed |
//! | unknown model | 42704 undefined_object |
//! | model name that is not a folder name | 42602 invalid_name |
//! | missing model file or ONNX Runtime library | 58P01 undefined_file |
//! | unreadable file | 58030 io_error |
//! | unusable model files (bad config, tokenizer or graph signature) | F0000 config_file_error |
//! | ONNX Runtime failure while running | 38000 external_routine_exception |
//! | cancelled run | 57014 query_canceled |

use clip_embed_core::{Error, ErrorKind};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// The SQLSTATE for a kind of core error.
pub fn sqlstate(kind: ErrorKind) -> PgSqlErrorCode {
    use PgSqlErrorCode::*;
    match kind {
        ErrorKind::InvalidImage => ERRCODE_INVALID_BINARY_REPRESENTATION,
        ErrorKind::LimitExceeded => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrorKind::InvalidArgument => ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::DimensionMismatch | ErrorKind::InvalidVector => ERRCODE_DATA_EXCEPTION,
        ErrorKind::NullValue => ERRCODE_NULL_VALUE_NOT_ALLOWED,
        ErrorKind::UnknownModel => ERRCODE_UNDEFINED_OBJECT,
        ErrorKind::InvalidModelName => ERRCODE_INVALID_NAME,
        ErrorKind::MissingFile => ERRCODE_UNDEFINED_FILE,
        ErrorKind::Io => ERRCODE_IO_ERROR,
        ErrorKind::InvalidModel => ERRCODE_CONFIG_FILE_ERROR,
        ErrorKind::Inference => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
        ErrorKind::Cancelled => ERRCODE_QUERY_CANCELED,
    }
}

/// Raises `error` as a Postgres ERROR with its SQLSTATE and hint. Never returns.
#[track_caller]
pub fn raise(error: Error, function: &'static str) -> ! {
    let mut report = ErrorReport::new(sqlstate(error.kind()), error.to_string(), function);
    if let Some(hint) = error.hint() {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("an ERROR report does not return")
}
