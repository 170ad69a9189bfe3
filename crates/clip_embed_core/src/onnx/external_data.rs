//! Which files an ONNX graph makes ONNX Runtime read: the graph itself and
//! every external-data file its tensors name (`TensorProto.external_data`,
//! `location`). The prepared-copy key and the model fingerprint hash all of
//! them: a replaced `textual.onnx.data` beside an unchanged graph changes the
//! vectors (cosine 0.92 in the issue that found it) and must change both.
//!
//! The graph is walked on the protobuf wire format through a 64 KiB window of
//! positioned reads, skipping weight blobs without reading them, so a graph
//! with 345 MB of embedded weights costs a few hundred small reads, not a copy
//! of the file; nothing is memory-mapped (a file truncated under a mapping
//! would raise SIGBUS in the backend).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{io_error, Error, Result};

/// The read window: most headers of a graph's nodes fall in one.
const WINDOW: usize = 64 << 10;
/// The longest external-data key or value read (a location is a file name).
const MAX_STRING: u64 = 4096;
/// Nested graphs (If/Loop bodies) followed at most this deep.
const MAX_DEPTH: usize = 16;

/// What a length-delimited field holds, for the fields this walk follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    Entry,
}

impl Message {
    /// The message inside field `number` of `self`, if the walk follows it.
    fn child(self, number: u64) -> Option<Message> {
        use Message::*;
        match (self, number) {
            (Model, 7) => Some(Graph),                  // ModelProto.graph
            (Graph, 1) => Some(Node),                   // GraphProto.node
            (Graph, 5) => Some(Tensor),                 // GraphProto.initializer
            (Graph, 15) => Some(SparseTensor),          // GraphProto.sparse_initializer
            (Node, 5) => Some(Attribute),               // NodeProto.attribute
            (Attribute, 5 | 10) => Some(Tensor),        // AttributeProto.t, .tensors
            (Attribute, 6 | 11) => Some(Graph),         // AttributeProto.g, .graphs
            (Attribute, 22 | 23) => Some(SparseTensor), // AttributeProto.sparse_tensor(s)
            (SparseTensor, 1 | 2) => Some(Tensor),      // SparseTensorProto.values, .indices
            (Tensor, 13) => Some(Entry),                // TensorProto.external_data
            _ => None,
        }
    }
}

/// Positioned reads of a file through one window.
struct Reader {
    file: File,
    len: u64,
    start: u64,
    window: Vec<u8>,
}

impl Reader {
    fn byte(&mut self, pos: u64) -> std::io::Result<u8> {
        if pos < self.start || pos >= self.start + self.window.len() as u64 {
            if pos >= self.len {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated protobuf"));
            }
            let n = WINDOW.min((self.len - pos) as usize);
            self.window.resize(n, 0);
            self.file.read_exact_at(&mut self.window, pos)?;
            self.start = pos;
        }
        Ok(self.window[(pos - self.start) as usize])
    }

    fn varint(&mut self, pos: &mut u64) -> std::io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte(*pos)?;
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint too long"))
    }

    fn string(&mut self, pos: u64, len: u64) -> std::io::Result<String> {
        if len > MAX_STRING {
            return Err(malformed("external-data entry too long"));
        }
        let bytes = (pos..pos + len).map(|p| self.byte(p)).collect::<std::io::Result<Vec<u8>>>()?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn malformed(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

/// What the walk found in one tensor.
#[derive(Default)]
struct TensorFacts {
    external: bool,
    location: Option<String>,
}

/// The external-data files `graph` names, resolved against its folder, sorted
/// and without repeats. A location outside the graph's folder (absolute, or
/// with `..`) is an error: ONNX Runtime refuses it too. For a file that does
/// not walk as a graph the answer fails closed: every other regular file of
/// its folder (ONNX Runtime will most likely refuse the graph, with its own
/// error, but whatever it could read is covered).
pub fn external_data_files(graph: &Path) -> Result<Vec<PathBuf>> {
    let file = File::open(graph).map_err(|e| io_error("model file", graph, e))?;
    let len = file.metadata().map_err(|e| io_error("model file", graph, e))?.len();
    let mut reader = Reader { file, len, start: 0, window: Vec::new() };
    let mut locations = Vec::new();
    match walk(&mut reader, 0, len, Message::Model, 0, &mut TensorFacts::default(), &mut locations) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return every_other_file(graph)
        }
        Err(e) => return Err(io_error("model file", graph, e)),
    }
    let folder = graph.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for location in locations {
        let relative = Path::new(&location);
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(Error::InvalidModel(format!(
                "\"{}\" names external data outside its folder: \"{}\"",
                graph.display(),
                crate::error::bounded(&location)
            )));
        }
        files.push(folder.join(relative));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn every_other_file(graph: &Path) -> Result<Vec<PathBuf>> {
    let folder = graph.parent().unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(folder).map_err(|e| io_error("model folder", folder, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .filter(|path| path != graph)
        .collect();
    files.sort();
    Ok(files)
}

/// Walks the fields of `message` in `[start, end)`, recording the locations of
/// external tensors.
fn walk(
    reader: &mut Reader,
    start: u64,
    end: u64,
    message: Message,
    depth: usize,
    tensor: &mut TensorFacts,
    locations: &mut Vec<String>,
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(malformed("graphs nested too deep"));
    }
    let mut pos = start;
    let mut entry: (Option<String>, Option<String>) = (None, None);
    while pos < end {
        let key = reader.varint(&mut pos)?;
        let number = key >> 3;
        match key & 7 {
            0 => {
                let value = reader.varint(&mut pos)?;
                if message == Message::Tensor && number == 14 {
                    tensor.external = value == 1; // TensorProto.DataLocation.EXTERNAL
                }
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = reader.varint(&mut pos)?;
                let body = pos;
                pos = pos.checked_add(len).filter(|&p| p <= end).ok_or_else(|| malformed("field past its message"))?;
                match (message, message.child(number)) {
                    (Message::Entry, _) if number == 1 => entry.0 = Some(reader.string(body, len)?),
                    (Message::Entry, _) if number == 2 => entry.1 = Some(reader.string(body, len)?),
                    (_, Some(Message::Tensor)) => {
                        let mut facts = TensorFacts::default();
                        walk(reader, body, pos, Message::Tensor, depth, &mut facts, locations)?;
                        if facts.external {
                            locations
                                .push(facts.location.ok_or_else(|| malformed("external tensor without a location"))?);
                        }
                    }
                    (_, Some(Message::Entry)) => walk(reader, body, pos, Message::Entry, depth, tensor, locations)?,
                    (_, Some(child)) => {
                        let depth = if child == Message::Graph { depth + 1 } else { depth };
                        walk(reader, body, pos, child, depth, tensor, locations)?;
                    }
                    (_, None) => {}
                }
            }
            _ => return Err(malformed("unknown wire type")),
        }
    }
    if pos != end {
        return Err(malformed("field past its message"));
    }
    if message == Message::Entry && entry.0.as_deref() == Some("location") {
        tensor.location = entry.1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, number: u64, body: &[u8]) {
        varint(out, number << 3 | 2);
        varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }

    fn tensor(name: &str, location: Option<&str>, raw: usize) -> Vec<u8> {
        let mut t = Vec::new();
        bytes_field(&mut t, 8, name.as_bytes());
        bytes_field(&mut t, 9, &vec![7u8; raw]);
        if let Some(location) = location {
            let mut entry = Vec::new();
            bytes_field(&mut entry, 1, b"location");
            bytes_field(&mut entry, 2, location.as_bytes());
            bytes_field(&mut t, 13, &entry);
            varint(&mut t, 14 << 3);
            varint(&mut t, 1);
        }
        t
    }

    fn model(tensors: &[Vec<u8>]) -> Vec<u8> {
        let mut graph = Vec::new();
        for t in tensors {
            bytes_field(&mut graph, 5, t);
        }
        let mut m = Vec::new();
        varint(&mut m, 1 << 3); // ir_version
        varint(&mut m, 8);
        bytes_field(&mut m, 7, &graph);
        m
    }

    fn written(tag: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clip_embed_onnx_files_{tag}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("textual.onnx");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn lists_each_external_file_once_and_skips_embedded_weights() {
        let big = tensor("embedded", None, 200_000); // larger than the read window
        let graph = model(&[
            big,
            tensor("a", Some("textual.onnx.data"), 0),
            tensor("b", Some("textual.onnx.data"), 0),
            tensor("c", Some("more/weights.bin"), 0),
        ]);
        let path = written("list", &graph);
        let dir = path.parent().unwrap().to_path_buf();
        assert_eq!(
            external_data_files(&path).unwrap(),
            vec![dir.join("more/weights.bin"), dir.join("textual.onnx.data")]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_locations_outside_the_folder_and_covers_the_folder_for_malformed_graphs() {
        let path = written("escape", &model(&[tensor("a", Some("../../etc/passwd"), 0)]));
        assert!(external_data_files(&path).unwrap_err().to_string().contains("outside its folder"));
        let graph = model(&[tensor("a", Some("w.data"), 10)]);
        std::fs::write(&path, &graph[..graph.len() - 3]).unwrap();
        let beside = path.with_file_name("w.data");
        std::fs::write(&beside, b"weights").unwrap();
        assert_eq!(external_data_files(&path).unwrap(), vec![beside.clone()], "fails closed: the folder's files");
        std::fs::write(&path, b"not an onnx graph").unwrap();
        assert_eq!(external_data_files(&path).unwrap(), vec![beside]);
        std::fs::write(&path, model(&[tensor("plain", None, 10)])).unwrap();
        assert!(external_data_files(&path).unwrap().is_empty());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
