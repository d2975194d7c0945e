//! Plugin packages: a folder or a `.tar.gz` holding `plugin.toml` and `plugin.wasm`, optionally
//! a README, a LICENSE and an icon. Unpacking refuses anything else: paths that climb out
//! (`..`, absolute), links and devices, too many entries and oversized files, so an archive can
//! never write outside the folder it is unpacked into or fill the disk.
//!
//! Checksums and signatures are checked by the caller on the archive's bytes *before* they get
//! here (see [`super::directory::Directory::fetch`]).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest compressed archive accepted.
pub const MAX_ARCHIVE_BYTES: u64 = 64 << 20;
/// Largest single file inside a package (components of interpreted guests are ~20 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest total unpacked size.
pub const MAX_UNPACKED_BYTES: u64 = 96 << 20;
/// Most entries (files and folders) in an archive.
pub const MAX_ENTRIES: usize = 32;

/// The files a package may hold.
pub const ALLOWED_FILES: &[&str] = &[
    "plugin.toml",
    "plugin.wasm",
    "README.md",
    "README.txt",
    "README",
    "LICENSE",
    "icon.png",
    "icon.svg",
];

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("package {path}: {message}")]
    Io { path: String, message: String },
    #[error("package refused: {0}")]
    Refused(String),
    #[error("package lacks {0}")]
    Missing(&'static str),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PackageError + '_ {
    move |e| PackageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Whether `path` names an archive (`.tar.gz` or `.tgz`) rather than a folder.
pub fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Reads an archive file, refusing one larger than [`MAX_ARCHIVE_BYTES`].
pub fn read_archive(path: &Path) -> Result<Vec<u8>, PackageError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if !meta.is_file() {
        return Err(PackageError::Refused(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_ARCHIVE_BYTES {
        return Err(PackageError::Refused(format!(
            "{} is larger than {MAX_ARCHIVE_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read(path).map_err(io(path))
}

/// Unpacks a `.tar.gz` package into `dest` (created; must not exist yet). The files may sit at
/// the archive's root or in one top-level folder. Nothing is written unless the whole archive
/// passes the checks: entries are read into memory (bounded) first.
pub fn unpack(archive: &[u8], dest: &Path) -> Result<(), PackageError> {
    let refused = |m: String| PackageError::Refused(m);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names = BTreeSet::new();
    let mut top: Option<String> = None;
    let mut total = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| refused(format!("not a .tar.gz: {e}")))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(refused(format!("more than {MAX_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| refused(format!("corrupt archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| refused(format!("bad entry name: {e}")))?
            .into_owned();
        let shown = raw.display().to_string();
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::CurDir => {}
                Component::Normal(p) => parts.push(
                    p.to_str()
                        .ok_or_else(|| refused(format!("{shown:?}: name is not UTF-8")))?
                        .to_string(),
                ),
                _ => {
                    return Err(refused(format!(
                        "{shown:?}: absolute paths and `..` are not allowed"
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            match parts.as_slice() {
                [] => continue,
                [dir] if top.as_deref().is_none_or(|t| t == dir) => {
                    top = Some(dir.clone());
                    continue;
                }
                _ => {
                    return Err(refused(format!(
                        "{shown:?}: nested folders are not allowed"
                    )));
                }
            }
        }
        if !kind.is_file() {
            return Err(refused(format!(
                "{shown:?} is a {}: only regular files are allowed",
                kind_name(kind)
            )));
        }
        let name = match parts.as_slice() {
            [name] if top.is_none() => name.clone(),
            [dir, name] if top.as_deref().is_none_or(|t| t == dir) => {
                top = Some(dir.clone());
                name.clone()
            }
            _ => {
                return Err(refused(format!(
                    "{shown:?}: files must be at the root or in one top-level folder"
                )));
            }
        };
        if !ALLOWED_FILES.contains(&name.as_str()) {
            return Err(refused(format!(
                "{shown:?} is not part of a plugin package (allowed: {})",
                ALLOWED_FILES.join(", ")
            )));
        }
        if !names.insert(name.clone()) {
            return Err(refused(format!("{name} appears twice")));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > MAX_FILE_BYTES {
            return Err(refused(format!(
                "{name} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        total = total.saturating_add(size);
        if total > MAX_UNPACKED_BYTES {
            return Err(refused(format!(
                "unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        // The header's size is what tar reads, but never trust it beyond the cap.
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refused(format!("{name}: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(refused(format!(
                "{name} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        files.push((name, bytes));
    }
    for required in ["plugin.toml", "plugin.wasm"] {
        if !names.contains(required) {
            return Err(PackageError::Missing(required));
        }
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for (name, bytes) in files {
        let path = dest.join(&name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_hard_link() {
        "hard link"
    } else if kind.is_character_special() || kind.is_block_special() {
        "device"
    } else if kind.is_fifo() {
        "fifo"
    } else {
        "special entry"
    }
}

/// Copies a package folder's files into `dest` (created): only the package files, and only
/// regular files (a symlink named `plugin.wasm` is refused rather than followed).
pub fn copy_folder(src: &Path, dest: &Path) -> Result<(), PackageError> {
    for required in ["plugin.toml", "plugin.wasm"] {
        if !src.join(required).exists() {
            return Err(PackageError::Missing(required));
        }
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for name in ALLOWED_FILES {
        let from = src.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        if !meta.is_file() {
            return Err(PackageError::Refused(format!(
                "{} is not a regular file",
                from.display()
            )));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(PackageError::Refused(format!(
                "{name} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        std::fs::copy(&from, dest.join(name)).map_err(io(&from))?;
    }
    Ok(())
}

/// Stages a package (folder or `.tar.gz`) into a fresh folder under `staging_root` and returns
/// it, ready to load and validate before it is moved to its final place.
pub fn stage(source: &Path, staging_root: &Path) -> Result<PathBuf, PackageError> {
    std::fs::create_dir_all(staging_root).map_err(io(staging_root))?;
    let dest = staging_root.join(format!(
        ".staging-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    let result = if is_archive(source) {
        read_archive(source).and_then(|bytes| unpack(&bytes, &dest))
    } else {
        copy_folder(source, &dest)
    };
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dest);
        return Err(e);
    }
    Ok(dest)
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{nanos:08x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Writes a `.tar.gz` package of a plugin folder's package files (for publishers and tests).
pub fn pack(src: &Path, archive: &Path) -> Result<(), PackageError> {
    let file = std::fs::File::create(archive).map_err(io(archive))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for name in ALLOWED_FILES {
        let path = src.join(name);
        if path.is_file() {
            tar.append_path_with_name(&path, name).map_err(io(&path))?;
        }
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(io(archive))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if kind.is_symlink() {
                h.set_link_name("/etc/passwd").unwrap();
            }
            // `set_path` refuses `..`; write the raw name the way a hostile tool would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        let bytes = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        gz.finish().unwrap()
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;

    #[test]
    fn unpacks_a_good_package_at_root_or_in_one_folder() {
        for prefix in ["", "./", "pkg/"] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("out");
            let a = archive(&[
                (&format!("{prefix}plugin.toml"), FILE, b"id = 'x'"),
                (&format!("{prefix}plugin.wasm"), FILE, b"\0asm"),
                (&format!("{prefix}README.md"), FILE, b"hi"),
            ]);
            unpack(&a, &dest).unwrap();
            assert_eq!(std::fs::read(dest.join("plugin.wasm")).unwrap(), b"\0asm");
        }
    }

    #[test]
    fn refuses_traversal_links_strangers_and_missing_files() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                archive(&[("../plugin.toml", FILE, b"x"), ("plugin.wasm", FILE, b"x")]),
                "`..`",
            ),
            (
                archive(&[("/plugin.toml", FILE, b"x"), ("plugin.wasm", FILE, b"x")]),
                "absolute",
            ),
            (
                archive(&[
                    ("plugin.toml", FILE, b"x"),
                    ("plugin.wasm", tar::EntryType::Symlink, b""),
                ]),
                "symbolic link",
            ),
            (
                archive(&[
                    ("plugin.toml", FILE, b"x"),
                    ("plugin.wasm", FILE, b"x"),
                    ("evil.sh", FILE, b"x"),
                ]),
                "not part of a plugin package",
            ),
            (
                archive(&[("a/plugin.toml", FILE, b"x"), ("b/plugin.wasm", FILE, b"x")]),
                "one top-level folder",
            ),
            (archive(&[("plugin.toml", FILE, b"x")]), "plugin.wasm"),
            (b"not gzip at all".to_vec(), "archive"),
        ];
        for (bytes, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("out");
            let err = unpack(&bytes, &dest).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(
                !dest.exists(),
                "nothing may be written for a refused archive"
            );
        }
    }
}
