//! What a graph declares and which of its inputs and outputs a tower uses:
//! each family's binding rule maps a [`Signature`] to a [`Binding`].

use ort::value::TensorElementType;

/// A graph's tensor inputs or outputs: (name, element type, dims with -1 where dynamic).
pub type Tensors = Vec<(String, TensorElementType, Vec<i64>)>;

/// What a graph declares, for a family's binding rule.
#[derive(Debug, Clone)]
pub struct Signature {
    pub inputs: Tensors,
    pub outputs: Tensors,
}

/// Which of a graph's inputs and outputs the tower uses.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Pixels `[N,3,S,S]` or token ids `[N,L]`: name, type, dims.
    pub input: (String, TensorElementType, Vec<i64>),
    /// An attention mask beside the ids (1 up to the end-of-text token, then 0).
    pub mask: Option<(String, TensorElementType)>,
    /// The embedding `[N,D]`: name and dims.
    pub output: (String, Vec<i64>),
    /// The embedding's element type: float32, or float16 (transformers.js's
    /// `_fp16` exports take and give float16; the core converts at the edges).
    pub output_type: TensorElementType,
}

/// A family's binding rule.
pub type BindFn = fn(&Signature) -> std::result::Result<Binding, String>;
