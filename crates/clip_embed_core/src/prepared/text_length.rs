//! Text towers at the caption's real length: rewriting graphs that bake in 77.
//!
//! CLIP's text tower reads tokens under a causal mask and pools at the
//! end-of-text token, so the positions after it never change the embedding;
//! yet exports run all 77 every time (a 7-token caption is 90% padding).
//! Running 16 positions instead of 77 is 4x faster on the ViT-B/16 text tower
//! (FIELD_NOTES.md). OpenAI/Roboflow and Immich exports cannot take a shorter
//! input: `torch.onnx.export` bakes the length into four places, the input's
//! dimension, the `[77,W]` positional-embedding initializer, the
//! `[1,1,77,77]` causal-mask constants (one per layer) and the int64 shape
//! constants `[77]` that feed `Concat -> Reshape`.
//!
//! [`rewrite_sequence_length`] rewrites such a graph so all four follow the
//! input: the input dimension becomes symbolic, every float tensor with an axis
//! of 77 is sliced to the input's length (`Slice`, from a `Shape` of the ids),
//! and every small int64 tensor holding 77 is rebuilt with the length in its
//! place (`Concat`). It works on the protobuf wire format and copies every
//! other byte as it is (weights included), so it needs no ONNX library; what
//! it writes is checked by running it against the original graph before it is
//! ever used ([`crate::prepared`]).

use std::borrow::Cow;

/// Why a graph was left at its fixed length.
pub type Refusal = String;

/// A protobuf field's value, borrowed from the input where unchanged.
#[derive(Debug, Clone)]
enum Value<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Cow<'a, [u8]>),
    Fixed32([u8; 4]),
}

#[derive(Debug, Clone)]
struct Field<'a> {
    number: u32,
    value: Value<'a>,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Refusal> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn parse(buf: &[u8]) -> Result<Vec<Field<'_>>, Refusal> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| "bad field number")?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 => {
                let bytes = buf.get(pos..pos + 8).ok_or("truncated fixed64")?;
                pos += 8;
                Value::Fixed64(bytes.try_into().expect("8 bytes"))
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).map_err(|_| "length overflow")?;
                let bytes = buf.get(pos..pos.checked_add(len).ok_or("length overflow")?).ok_or("truncated bytes")?;
                pos += len;
                Value::Bytes(Cow::Borrowed(bytes))
            }
            5 => {
                let bytes = buf.get(pos..pos + 4).ok_or("truncated fixed32")?;
                pos += 4;
                Value::Fixed32(bytes.try_into().expect("4 bytes"))
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        fields.push(Field { number, value });
    }
    Ok(fields)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        let number = u64::from(field.number) << 3;
        match &field.value {
            Value::Varint(v) => {
                write_varint(&mut out, number);
                write_varint(&mut out, *v);
            }
            Value::Fixed64(b) => {
                write_varint(&mut out, number | 1);
                out.extend_from_slice(b);
            }
            Value::Bytes(b) => {
                write_varint(&mut out, number | 2);
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Fixed32(b) => {
                write_varint(&mut out, number | 5);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn bytes_field<'a>(number: u32, bytes: impl Into<Cow<'a, [u8]>>) -> Field<'a> {
    Field { number, value: Value::Bytes(bytes.into()) }
}

fn first_bytes<'a, 'b>(fields: &'b [Field<'a>], number: u32) -> Option<&'b [u8]> {
    fields.iter().find(|f| f.number == number).and_then(|f| match &f.value {
        Value::Bytes(b) => Some(&**b),
        _ => None,
    })
}

fn all_bytes<'a, 'b>(fields: &'b [Field<'a>], number: u32) -> impl Iterator<Item = &'b [u8]> + 'b {
    fields.iter().filter(move |f| f.number == number).filter_map(|f| match &f.value {
        Value::Bytes(b) => Some(&**b),
        _ => None,
    })
}

fn first_varint(fields: &[Field], number: u32) -> Option<u64> {
    fields.iter().find(|f| f.number == number).and_then(|f| match f.value {
        Value::Varint(v) => Some(v),
        _ => None,
    })
}

/// Repeated int64 (packed or not) of field `number`.
fn int64s(fields: &[Field], number: u32) -> Result<Vec<i64>, Refusal> {
    let mut values = Vec::new();
    for field in fields.iter().filter(|f| f.number == number) {
        match &field.value {
            Value::Varint(v) => values.push(*v as i64),
            Value::Bytes(packed) => {
                let mut pos = 0;
                while pos < packed.len() {
                    values.push(read_varint(packed, &mut pos)? as i64);
                }
            }
            _ => return Err("bad int64 field".into()),
        }
    }
    Ok(values)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ONNX field numbers (onnx.proto).
const MODEL_GRAPH: u32 = 7;
const MODEL_OPSET_IMPORT: u32 = 8;
const OPSET_DOMAIN: u32 = 1;
const OPSET_VERSION: u32 = 2;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_VALUE_INFO: u32 = 13;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const ATTRIBUTE_NAME: u32 = 1;
const ATTRIBUTE_I: u32 = 3;
const ATTRIBUTE_T: u32 = 5;
const ATTRIBUTE_TYPE: u32 = 20;
const ATTRIBUTE_TYPE_INT: u64 = 2;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_INT64_DATA: u32 = 7;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const TENSOR_DATA_LOCATION: u32 = 14;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TYPE_TENSOR_ELEM_TYPE: u32 = 1;
const TYPE_TENSOR_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_VALUE: u32 = 1;
const DIM_PARAM: u32 = 2;
const TYPE_FLOAT: u64 = 1;
const TYPE_INT32: u64 = 6;
const TYPE_INT64: u64 = 7;
const TYPE_FLOAT16: u64 = 10;
const TYPE_BFLOAT16: u64 = 16;

/// Int64 tensors up to this many elements are shape-like; larger ones (token
/// maps, position ids) are left alone.
const SHAPE_LIKE_ELEMENTS: usize = 8;

/// A constant tensor's facts: element type, dims, and int64 values when small.
struct TensorFacts {
    name: String,
    data_type: u64,
    dims: Vec<i64>,
    int64_values: Option<Vec<i64>>,
}

fn tensor_facts(tensor: &[u8]) -> Result<TensorFacts, Refusal> {
    let fields = parse(tensor)?;
    let data_type = first_varint(&fields, TENSOR_DATA_TYPE).unwrap_or(0);
    let dims = int64s(&fields, TENSOR_DIMS)?;
    let name = first_bytes(&fields, TENSOR_NAME).map(text).unwrap_or_default();
    // Checked: a graph may state any dims (i64::MAX x 2 overflowed, a panic in a debug build).
    let elements = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?)).unwrap_or(u64::MAX);
    let int64_values = if data_type == TYPE_INT64 && elements <= SHAPE_LIKE_ELEMENTS as u64 {
        if first_varint(&fields, TENSOR_DATA_LOCATION) == Some(1) {
            None
        } else if let Some(raw) = first_bytes(&fields, TENSOR_RAW_DATA) {
            Some(raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
        } else {
            Some(int64s(&fields, TENSOR_INT64_DATA)?)
        }
    } else {
        None
    };
    Ok(TensorFacts { name, data_type, dims, int64_values })
}

fn int64_tensor(name: &str, dims: &[i64], values: &[i64]) -> Vec<u8> {
    let mut fields = Vec::new();
    for &d in dims {
        fields.push(Field { number: TENSOR_DIMS, value: Value::Varint(d as u64) });
    }
    fields.push(Field { number: TENSOR_DATA_TYPE, value: Value::Varint(TYPE_INT64) });
    fields.push(bytes_field(TENSOR_NAME, name.as_bytes().to_vec()));
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    fields.push(bytes_field(TENSOR_RAW_DATA, raw));
    encode(&fields)
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, int_attribute: Option<(&str, i64)>) -> Vec<u8> {
    let mut fields = Vec::new();
    for input in inputs {
        fields.push(bytes_field(NODE_INPUT, input.as_bytes().to_vec()));
    }
    fields.push(bytes_field(NODE_OUTPUT, output.as_bytes().to_vec()));
    fields.push(bytes_field(NODE_NAME, name.as_bytes().to_vec()));
    fields.push(bytes_field(NODE_OP_TYPE, op.as_bytes().to_vec()));
    if let Some((attribute, value)) = int_attribute {
        let attribute = encode(&[
            bytes_field(ATTRIBUTE_NAME, attribute.as_bytes().to_vec()),
            Field { number: ATTRIBUTE_I, value: Value::Varint(value as u64) },
            Field { number: ATTRIBUTE_TYPE, value: Value::Varint(ATTRIBUTE_TYPE_INT) },
        ]);
        fields.push(bytes_field(NODE_ATTRIBUTE, attribute));
    }
    encode(&fields)
}

/// The value tensor of a `Constant` node, if it has one.
fn constant_value<'a>(node: &'a [Field<'a>]) -> Option<&'a [u8]> {
    if first_bytes(node, NODE_OP_TYPE) != Some(b"Constant") {
        return None;
    }
    all_bytes(node, NODE_ATTRIBUTE).find_map(|attribute| {
        let fields = parse(attribute).ok()?;
        if first_bytes(&fields, ATTRIBUTE_NAME) != Some(b"value") {
            return None;
        }
        first_bytes(&fields, ATTRIBUTE_T).map(|t| {
            // Borrow from `attribute`, which borrows from `node`.
            let start = t.as_ptr() as usize - attribute.as_ptr() as usize;
            &attribute[start..start + t.len()]
        })
    })
}

/// A tensor that consumers read from a new name: (old name, new name, the
/// encoded nodes computing it, the index of the Constant node defining the old
/// one, None for an initializer).
type Replacement = (String, String, Vec<Vec<u8>>, Option<usize>);

/// The result of a rewrite.
#[derive(Debug)]
pub struct Rewritten {
    /// The rewritten model.
    pub model: Vec<u8>,
    /// The fixed length the graph had (77 for OpenAI's models).
    pub fixed_length: usize,
}

/// Rewrites a text graph whose ids input `[N,L]` has a fixed `L` so that it
/// runs at any length up to `L`. `Ok(None)`: the length is already dynamic.
/// `Err`: a graph this rewrite does not understand (it is then used as it is).
pub fn rewrite_sequence_length(model: &[u8], ids_input: &str) -> Result<Option<Rewritten>, Refusal> {
    let model_fields = parse(model)?;
    let opset = all_bytes(&model_fields, MODEL_OPSET_IMPORT)
        .filter_map(|o| parse(o).ok())
        .find(|o| first_bytes(o, OPSET_DOMAIN).is_none_or(|d| d.is_empty()))
        .and_then(|o| first_varint(&o, OPSET_VERSION))
        .ok_or("no default-domain opset")?;
    if opset < 13 {
        return Err(format!("opset {opset} (the rewrite needs 13 or newer)"));
    }
    let graph = first_bytes(&model_fields, MODEL_GRAPH).ok_or("no graph")?;
    let graph_fields = parse(graph)?;

    // 1. The ids input and its fixed length; the same axis of any other int input (a mask).
    let mut fixed_length = None;
    let mut inputs = Vec::new();
    for input in all_bytes(&graph_fields, GRAPH_INPUT) {
        let fields = parse(input)?;
        let name = first_bytes(&fields, VALUE_INFO_NAME).map(text).unwrap_or_default();
        inputs.push((name, fields));
    }
    for (name, fields) in &inputs {
        if name == ids_input {
            let (elem_type, dims) = value_info_dims(fields)?;
            if !matches!(elem_type, TYPE_INT32 | TYPE_INT64) || dims.len() != 2 {
                return Err(format!("input \"{name}\" is not int ids [N,L]"));
            }
            match dims[1] {
                Dim::Value(l) if l >= 2 => fixed_length = Some(l),
                Dim::Value(l) => return Err(format!("input \"{name}\" has length {l}")),
                Dim::Param | Dim::Unknown => return Ok(None),
            }
        }
    }
    let length = fixed_length.ok_or_else(|| format!("no input \"{ids_input}\""))?;

    // 2. Tensors with the length baked in: initializers and Constant nodes.
    let nodes: Vec<Vec<Field>> = all_bytes(&graph_fields, GRAPH_NODE).map(parse).collect::<Result<_, _>>()?;
    let mut candidates: Vec<(TensorFacts, Option<usize>)> = Vec::new(); // (facts, defining node index)
    for initializer in all_bytes(&graph_fields, GRAPH_INITIALIZER) {
        candidates.push((tensor_facts(initializer)?, None));
    }
    for (i, node) in nodes.iter().enumerate() {
        if let Some(value) = constant_value(node) {
            let mut facts = tensor_facts(value)?;
            facts.name = first_bytes(node, NODE_OUTPUT).map(text).unwrap_or_default();
            candidates.push((facts, Some(i)));
        }
    }
    let is_float = |t: u64| matches!(t, TYPE_FLOAT | TYPE_FLOAT16 | TYPE_BFLOAT16);
    let mut replacements: Vec<Replacement> = Vec::new();
    let mut new_initializers: Vec<Vec<u8>> = Vec::new();
    let mut sliced = 0;
    const LEN1: &str = "clip_embed_length_1d";
    const LEN2: &str = "clip_embed_length_2d";
    for (facts, defined_at) in &candidates {
        let axes: Vec<i64> = (0..facts.dims.len() as i64).filter(|&a| facts.dims[a as usize] == length).collect();
        if is_float(facts.data_type) && !axes.is_empty() {
            if axes.len() > 2 {
                return Err(format!("tensor \"{}\" has {} axes of length {length}", facts.name, axes.len()));
            }
            let base = format!("clip_embed_sliced_{}", replacements.len());
            let starts = format!("{base}_starts");
            let axes_name = format!("{base}_axes");
            new_initializers.push(int64_tensor(&starts, &[axes.len() as i64], &vec![0; axes.len()]));
            new_initializers.push(int64_tensor(&axes_name, &[axes.len() as i64], &axes));
            let ends = if axes.len() == 1 { LEN1 } else { LEN2 };
            let out = format!("{base}_out");
            let slice = node("Slice", &base, &[&facts.name, &starts, ends, &axes_name], &out, None);
            replacements.push((facts.name.clone(), out, vec![slice], *defined_at));
            sliced += 1;
        } else if let Some(values) = &facts.int64_values {
            if !values.contains(&length) || facts.dims.len() > 1 {
                continue;
            }
            let base = format!("clip_embed_shape_{}", replacements.len());
            let mut parts = Vec::new();
            let mut pieces: Vec<String> = Vec::new();
            for (k, &v) in values.iter().enumerate() {
                if v == length {
                    pieces.push(LEN1.into());
                } else {
                    let constant = format!("{base}_part{k}");
                    new_initializers.push(int64_tensor(&constant, &[1], &[v]));
                    pieces.push(constant);
                }
            }
            let out = format!("{base}_out");
            let piece_refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            if facts.dims.is_empty() {
                // A scalar: squeeze the [1] length back to a scalar.
                let axes = format!("{base}_axes");
                new_initializers.push(int64_tensor(&axes, &[1], &[0]));
                parts.push(node("Squeeze", &base, &[LEN1, &axes], &out, None));
            } else {
                parts.push(node("Concat", &base, &piece_refs, &out, Some(("axis", 0))));
            }
            replacements.push((facts.name.clone(), out, parts, *defined_at));
        }
    }
    if sliced == 0 {
        return Err(format!("no float tensor with an axis of {length} (no positional embedding found)"));
    }

    // 3. The length, from the ids: Shape -> Slice [1:2] (1-D), and [L, L].
    let ids = ids_input;
    for (name, dims, values) in [
        ("clip_embed_one", vec![1i64], vec![1i64]),
        ("clip_embed_two", vec![1], vec![2]),
        ("clip_embed_zero", vec![1], vec![0]),
    ] {
        new_initializers.push(int64_tensor(name, &dims, &values));
    }
    let mut head = vec![
        node("Shape", "clip_embed_shape", &[ids], "clip_embed_ids_shape", None),
        node(
            "Slice",
            "clip_embed_length",
            &["clip_embed_ids_shape", "clip_embed_one", "clip_embed_two", "clip_embed_zero"],
            LEN1,
            None,
        ),
        node("Concat", "clip_embed_length_pair", &[LEN1, LEN1], LEN2, Some(("axis", 0))),
    ];

    // 4. Consumers read the replacements; new nodes follow what they read.
    let renamed = |input: &[u8]| replacements.iter().find(|r| r.0.as_bytes() == input).map(|r| r.1.clone());
    let mut node_bytes: Vec<Vec<u8>> = Vec::new();
    for (_, _, computing, defined_at) in &replacements {
        if defined_at.is_none() {
            head.extend(computing.iter().cloned());
        }
    }
    node_bytes.append(&mut head);
    for (i, node_fields) in nodes.iter().enumerate() {
        let mut fields = node_fields.clone();
        for field in fields.iter_mut().filter(|f| f.number == NODE_INPUT) {
            if let Value::Bytes(input) = &field.value {
                if let Some(new) = renamed(input) {
                    field.value = Value::Bytes(Cow::Owned(new.into_bytes()));
                }
            }
        }
        node_bytes.push(encode(&fields));
        for (_, _, computing, defined_at) in &replacements {
            if *defined_at == Some(i) {
                node_bytes.extend(computing.iter().cloned());
            }
        }
    }
    // Graph outputs that are replaced tensors would need renaming too: none in CLIP.
    let outputs_replaced = all_bytes(&graph_fields, 12)
        .filter_map(|o| parse(o).ok())
        .any(|o| first_bytes(&o, VALUE_INFO_NAME).is_some_and(|n| renamed(n).is_some()));
    if outputs_replaced {
        return Err("a graph output is a length-dependent constant".into());
    }

    // 5. The new graph: nodes, the ids input made symbolic, value_info dropped
    // (ONNX Runtime infers shapes again; stale ones would say 77).
    let mut new_graph: Vec<Field> = Vec::new();
    let mut nodes_written = false;
    for field in &graph_fields {
        match field.number {
            GRAPH_NODE => {
                if !nodes_written {
                    for bytes in &node_bytes {
                        new_graph.push(bytes_field(GRAPH_NODE, bytes.clone()));
                    }
                    nodes_written = true;
                }
            }
            GRAPH_VALUE_INFO => {}
            GRAPH_INPUT => {
                let Value::Bytes(bytes) = &field.value else { continue };
                let fields = parse(bytes)?;
                let name = first_bytes(&fields, VALUE_INFO_NAME).map(text).unwrap_or_default();
                let rewritten = if name == ids || is_int_sequence_input(&fields, length)? {
                    with_symbolic_axis(&fields, "clip_embed_sequence")?
                } else {
                    bytes.to_vec()
                };
                new_graph.push(bytes_field(GRAPH_INPUT, rewritten));
            }
            _ => new_graph.push(field.clone()),
        }
    }
    for initializer in new_initializers {
        new_graph.push(bytes_field(GRAPH_INITIALIZER, initializer));
    }
    let graph_bytes = encode(&new_graph);
    let new_model: Vec<Field> = model_fields
        .iter()
        .map(|f| if f.number == MODEL_GRAPH { bytes_field(MODEL_GRAPH, graph_bytes.clone()) } else { f.clone() })
        .collect();
    Ok(Some(Rewritten { model: encode(&new_model), fixed_length: length as usize }))
}

enum Dim {
    Value(i64),
    Param,
    Unknown,
}

fn value_info_dims(fields: &[Field]) -> Result<(u64, Vec<Dim>), Refusal> {
    let type_proto = parse(first_bytes(fields, VALUE_INFO_TYPE).ok_or("input without a type")?)?;
    let tensor = parse(first_bytes(&type_proto, TYPE_TENSOR).ok_or("input that is not a tensor")?)?;
    let elem_type = first_varint(&tensor, TYPE_TENSOR_ELEM_TYPE).unwrap_or(0);
    let Some(shape) = first_bytes(&tensor, TYPE_TENSOR_SHAPE) else { return Ok((elem_type, Vec::new())) };
    let dims = all_bytes(&parse(shape)?, SHAPE_DIM)
        .map(|d| {
            let dim = parse(d)?;
            Ok(if let Some(v) = first_varint(&dim, DIM_VALUE) {
                Dim::Value(v as i64)
            } else if first_bytes(&dim, DIM_PARAM).is_some() {
                Dim::Param
            } else {
                Dim::Unknown
            })
        })
        .collect::<Result<_, Refusal>>()?;
    Ok((elem_type, dims))
}

/// An int `[N, length]` input beside the ids (an attention mask).
fn is_int_sequence_input(fields: &[Field], length: i64) -> Result<bool, Refusal> {
    let (elem_type, dims) = value_info_dims(fields)?;
    Ok(matches!(elem_type, TYPE_INT32 | TYPE_INT64)
        && dims.len() == 2
        && matches!(dims[1], Dim::Value(l) if l == length))
}

/// The value info with its axis 1 named `param` instead of a fixed size.
fn with_symbolic_axis(fields: &[Field], param: &str) -> Result<Vec<u8>, Refusal> {
    let mut out = fields.to_vec();
    for field in out.iter_mut().filter(|f| f.number == VALUE_INFO_TYPE) {
        let Value::Bytes(type_bytes) = &field.value else { continue };
        let mut type_proto = parse(type_bytes)?;
        for t in type_proto.iter_mut().filter(|f| f.number == TYPE_TENSOR) {
            let Value::Bytes(tensor_bytes) = &t.value else { continue };
            let mut tensor = parse(tensor_bytes)?;
            for s in tensor.iter_mut().filter(|f| f.number == TYPE_TENSOR_SHAPE) {
                let Value::Bytes(shape_bytes) = &s.value else { continue };
                let mut shape = parse(shape_bytes)?;
                if let Some(dim) = shape.iter_mut().filter(|f| f.number == SHAPE_DIM).nth(1) {
                    dim.value = Value::Bytes(Cow::Owned(encode(&[bytes_field(DIM_PARAM, param.as_bytes().to_vec())])));
                }
                s.value = Value::Bytes(Cow::Owned(encode(&shape)));
            }
            t.value = Value::Bytes(Cow::Owned(encode(&tensor)));
        }
        field.value = Value::Bytes(Cow::Owned(encode(&type_proto)));
    }
    Ok(encode(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_dims_are_not_shape_like_and_do_not_overflow() {
        for dims in [vec![i64::MAX, 2], vec![-1, 3], vec![1 << 40, 1 << 40]] {
            let facts = tensor_facts(&int64_tensor("huge", &dims, &[77])).unwrap();
            assert!(facts.int64_values.is_none(), "{dims:?}");
        }
        let shape = tensor_facts(&int64_tensor("shape", &[1], &[77])).unwrap();
        assert_eq!(shape.int64_values, Some(vec![77]));
    }

    #[test]
    fn wire_format_round_trips_byte_for_byte() {
        let message = encode(&[
            Field { number: 1, value: Value::Varint(300) },
            bytes_field(2, b"hello".to_vec()),
            Field { number: 3, value: Value::Fixed32([1, 2, 3, 4]) },
            Field { number: 4, value: Value::Fixed64([9; 8]) },
        ]);
        assert_eq!(encode(&parse(&message).unwrap()), message);
        assert!(parse(&message[..message.len() - 1]).is_err(), "truncation is refused");
    }

    #[test]
    fn int64_tensors_read_back() {
        let t = int64_tensor("shape", &[3], &[0, 77, -1]);
        let facts = tensor_facts(&t).unwrap();
        assert_eq!((facts.name.as_str(), facts.data_type, facts.dims.clone()), ("shape", TYPE_INT64, vec![3]));
        assert_eq!(facts.int64_values, Some(vec![0, 77, -1]));
    }
}
