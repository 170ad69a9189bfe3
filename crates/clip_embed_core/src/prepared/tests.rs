//! The store's unit tests: checks, stamps, external data, abandoned folders.

use std::fs;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::files::*;
use super::key::*;
use super::manifest::*;
use super::store::*;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clip_embed_prepared_{tag}_{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn checks_catch_truncation_and_changed_bytes_in_large_files() {
    let dir = temp_dir("checks");
    let path = dir.join("model.onnx.data");
    let data: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
    fs::write(&path, &data).unwrap();
    let check = check_of(&path).unwrap();
    assert!(check.sampled);
    // A changed byte inside a sample, and a truncation, are caught.
    let mut changed = data.clone();
    changed[(16 << 20) + 10] ^= 1;
    fs::write(&path, &changed).unwrap();
    assert_ne!(check_of(&path).unwrap().sha256, check.sha256);
    fs::write(&path, &data[..data.len() - 1]).unwrap();
    assert_ne!(check_of(&path).unwrap().bytes, check.bytes);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stamps_record_the_content_hash_once_and_follow_changes() {
    let store = temp_dir("stamps");
    fs::create_dir_all(store.join(STAMPS_DIR)).unwrap();
    let source = store.join("textual.onnx");
    // Protobuf bytes (ir_version 1, then 2): the key parses the graph for external data.
    fs::write(&source, b"\x08\x01").unwrap();
    let first = source_sha256(&store, &source, None).unwrap();
    assert_eq!(first, hex(&Sha256::digest(b"\x08\x01")));
    assert_eq!(recorded_sha256(&store, &source), Some(first.clone()));
    // A mode change (ctime only) is re-hashed once, to the same content: chmod makes nothing stale.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut perms = fs::metadata(&source).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o640);
    fs::set_permissions(&source, perms).unwrap();
    assert_eq!(recorded_sha256(&store, &source), None);
    assert_eq!(source_sha256(&store, &source, None).unwrap(), first);
    assert_eq!(recorded_sha256(&store, &source), Some(first.clone()));
    // New bytes of the same length: the stamp (mtime/inode) changes, so it is re-hashed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let replacement = store.join("new.onnx");
    fs::write(&replacement, b"\x08\x02").unwrap();
    fs::rename(&replacement, &source).unwrap();
    assert_eq!(recorded_sha256(&store, &source), None);
    assert_eq!(source_sha256(&store, &source, None).unwrap(), hex(&Sha256::digest(b"\x08\x02")));
    fs::remove_dir_all(&store).unwrap();
}

#[test]
fn the_content_hash_covers_external_data_files() {
    let store = temp_dir("external");
    fs::create_dir_all(store.join(STAMPS_DIR)).unwrap();
    // A graph with one initializer whose data is external, in "w.data".
    let entry = [b"\x0a\x08location".as_slice(), b"\x12\x06w.data"].concat();
    let tensor = [b"\x42\x01t\x6a".as_slice(), &[entry.len() as u8], &entry, b"\x70\x01"].concat();
    let graph = [b"\x2a".as_slice(), &[tensor.len() as u8], &tensor].concat();
    let model = [b"\x08\x08\x3a".as_slice(), &[graph.len() as u8], &graph].concat();
    let source = store.join("textual.onnx");
    fs::write(&source, &model).unwrap();
    fs::write(store.join("w.data"), [1u8; 64]).unwrap();
    let first = source_sha256(&store, &source, None).unwrap();
    assert_ne!(first, hex(&Sha256::digest(&model)), "the weights are part of the hash");
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(store.join("w.data"), [2u8; 64]).unwrap();
    assert_eq!(recorded_sha256(&store, &source), None, "a changed weights file is not the recorded content");
    assert_ne!(source_sha256(&store, &source, None).unwrap(), first);
    fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_damaged_byte_between_samples_is_caught_by_the_full_check_after_a_write() {
    let dir = temp_dir("verified");
    fs::write(dir.join(GRAPH_FILE), b"graph").unwrap();
    let data: Vec<u8> = (0..(40u32 << 20)).map(|i| (i % 251) as u8).collect();
    fs::write(dir.join("model.onnx.data"), &data).unwrap();
    let files = [GRAPH_FILE, "model.onnx.data"]
        .iter()
        .map(|name| {
            let mut check = check_of(&dir.join(name)).unwrap();
            check.full_sha256 = hash_file(&dir.join(name), None).unwrap();
            check
        })
        .collect();
    let manifest = Manifest {
        recipe: PREPARE_RECIPE.into(),
        model: "m".into(),
        tower: "visual".into(),
        source: dir.join("visual.onnx"),
        source_sha256: String::new(),
        onnxruntime: String::new(),
        cpu: String::new(),
        created_unix: 0,
        prepare_ms: 0.0,
        text_length: None,
        files,
    };
    fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&manifest).unwrap()).unwrap();
    assert!(verify(&dir, None).unwrap().is_ok());
    assert!(dir.join(VERIFIED_FILE).exists(), "the full check is recorded");
    assert!(verify(&dir, None).unwrap().is_ok());
    // 605 KB of zeros 1 MiB past a sample: the samples match, the full checksum does not.
    let mut damaged = data.clone();
    damaged[(9 << 20)..(9 << 20) + 605_000].fill(0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(dir.join("model.onnx.data"), &damaged).unwrap();
    assert_eq!(check_of(&dir.join("model.onnx.data")).unwrap().sha256, manifest.files[1].sha256);
    let why = verify(&dir, None).unwrap().unwrap_err();
    assert!(why.contains("does not match its checksum"), "{why}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn temporary_folders_of_dead_writers_are_abandoned() {
    assert!(writer_is_running(&format!(".m.visual.0123{TEMP_MARK}{}", std::process::id())));
    // PIDs above the kernel's pid_max (4,194,304 at most) never run.
    assert!(!writer_is_running(&format!(".m.visual.0123{TEMP_MARK}2000000000")));
    let store = temp_dir("abandoned");
    fs::create_dir_all(store.join(format!(".m.visual.0123{TEMP_MARK}2000000000"))).unwrap();
    remove_abandoned(&store);
    assert!(list(&store).unwrap().is_empty());
    assert!(remove(&store, "../etc").is_err());
    fs::remove_dir_all(&store).unwrap();
}

#[test]
fn cpu_features_name_the_architecture() {
    assert!(cpu_features().starts_with(std::env::consts::ARCH));
}
