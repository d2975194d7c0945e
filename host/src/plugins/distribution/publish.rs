//! `emporium plugin publish`: builds (or adds to) a plugin directory from built plugin
//! packages, signing each version with the publisher's ed25519 key. The result is what
//! [`super::directory::Directory`] reads: `index.json` plus `<id>/<version>/plugin.toml` and
//! `plugin.wasm`, served from a folder or any static web server.
//!
//! A key file holds the 32-byte secret seed as 64 hex digits (`emporium plugin keygen`); its
//! public half is what merchants add to `plugin_trusted_keys` under the same name.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use super::directory::{Index, IndexPlugin, IndexVersion, sha256_hex, sign};
use super::manifest::Manifest;
use super::package::{self, PackageError};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{0}")]
    Package(#[from] PackageError),
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error("key file {path}: {message}")]
    Key { path: String, message: String },
    #[error("{out}/index.json is not a plugin directory index: {message}")]
    Index { out: String, message: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PublishError + '_ {
    move |e| PublishError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A signing key and the name merchants trust it under.
pub struct PublisherKey {
    pub name: String,
    pub key: SigningKey,
}

impl PublisherKey {
    /// Reads a key file (64 hex digits); the key's name is `name`, or the file's stem.
    pub fn read(path: &Path, name: Option<&str>) -> Result<PublisherKey, PublishError> {
        let bad = |message: String| PublishError::Key {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("expected 64 hex digits (a 32-byte ed25519 secret key)".into()))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(|s| s.trim_end_matches(".key").to_string())
                .ok_or_else(|| bad("give the key a name with --key-name".into()))?,
        };
        Ok(PublisherKey {
            name,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A fresh random key.
    pub fn generate(name: &str) -> Result<PublisherKey, PublishError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| PublishError::Key {
            path: "(random)".into(),
            message: e.to_string(),
        })?;
        Ok(PublisherKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Writes the secret seed as hex, readable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), PublishError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(path, hex::encode(self.key.to_bytes()) + "\n").map_err(io(path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io(path))?;
        }
        Ok(())
    }

    /// The public key as merchants configure it (64 hex digits).
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }
}

/// One version added to a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    pub version: String,
    pub wasm_sha256: String,
    /// A version already in the directory was replaced (same id and version, rebuilt).
    pub replaced: bool,
}

/// Reads and checks every package before anything is written.
fn read_packages(
    packages: &[PathBuf],
    staging: &Path,
) -> Result<Vec<(String, Manifest, Vec<u8>)>, PublishError> {
    let mut read = Vec::new();
    for source in packages {
        let staged = package::stage(source, staging)?;
        let manifest_text =
            std::fs::read_to_string(staged.join("plugin.toml")).map_err(io(source))?;
        let manifest = Manifest::parse(&manifest_text).map_err(|e| PublishError::Manifest {
            path: source.display().to_string(),
            message: e.to_string(),
        })?;
        let wasm = std::fs::read(staged.join("plugin.wasm")).map_err(io(source))?;
        read.push((manifest_text, manifest, wasm));
    }
    Ok(read)
}

/// Adds each package (a folder with `plugin.toml` and `plugin.wasm`, or a `.tar.gz` of them)
/// to the directory at `out`, creating it when missing and keeping the versions it already
/// lists. Every package is read and checked before anything is written.
pub fn publish(
    packages: &[PathBuf],
    key: Option<&PublisherKey>,
    out: &Path,
) -> Result<Vec<Published>, PublishError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let index_path = out.join("index.json");
    let mut index = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<Index>(&bytes).map_err(|e| PublishError::Index {
            out: out.display().to_string(),
            message: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index { plugins: vec![] },
        Err(e) => return Err(io(&index_path)(e)),
    };
    let staging = out.join(".publishing");
    let _ = std::fs::remove_dir_all(&staging);
    let read = read_packages(packages, &staging);
    let _ = std::fs::remove_dir_all(&staging);
    let read = read?;
    let mut done = Vec::new();
    for (manifest_text, manifest, wasm) in read {
        let (id, version) = (manifest.id.clone(), manifest.version.to_string());
        let folder = out.join(&id).join(&version);
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        std::fs::write(folder.join("plugin.toml"), &manifest_text).map_err(io(&folder))?;
        std::fs::write(folder.join("plugin.wasm"), &wasm).map_err(io(&folder))?;
        let mut entry = IndexVersion {
            version: version.clone(),
            wit_version: manifest.wit_version.to_string(),
            manifest: format!("{id}/{version}/plugin.toml"),
            manifest_sha256: sha256_hex(manifest_text.as_bytes()),
            wasm: format!("{id}/{version}/plugin.wasm"),
            wasm_sha256: sha256_hex(&wasm),
            package: None,
            package_sha256: None,
            key: None,
            signature: None,
        };
        if let Some(k) = key {
            entry.key = Some(k.name.clone());
            entry.signature = Some(sign(&k.key, &id, &entry));
        }
        let plugin = match index.plugins.iter_mut().position(|p| p.id == id) {
            Some(i) => &mut index.plugins[i],
            None => {
                index.plugins.push(IndexPlugin {
                    id: id.clone(),
                    name: String::new(),
                    world: String::new(),
                    description: String::new(),
                    author: String::new(),
                    versions: vec![],
                });
                index.plugins.last_mut().expect("just pushed")
            }
        };
        let before = plugin.versions.len();
        plugin.versions.retain(|v| v.version != version);
        let replaced = plugin.versions.len() != before;
        plugin.versions.push(entry.clone());
        plugin.versions.sort_by(|a, b| {
            let parse = |v: &str| semver::Version::parse(v).ok();
            parse(&a.version).cmp(&parse(&b.version))
        });
        // The newest version's words describe the plugin.
        if plugin.versions.last().map(|v| &v.version) == Some(&version) {
            plugin.name = manifest.name.clone();
            plugin.world = manifest.world.name().to_string();
            plugin.description = manifest.description.clone();
            plugin.author = manifest.author.clone();
        }
        done.push(Published {
            id,
            version,
            wasm_sha256: entry.wasm_sha256,
            replaced,
        });
    }
    index.plugins.sort_by(|a, b| a.id.cmp(&b.id));
    let json = serde_json::to_vec_pretty(&index).map_err(|e| PublishError::Index {
        out: out.display().to_string(),
        message: e.to_string(),
    })?;
    // Written whole and renamed, so a shop reading the directory never sees half an index.
    let tmp = out.join(".index.json.tmp");
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &index_path).map_err(io(&index_path))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::distribution::directory::{
        Directory, SignatureState, TrustPolicy, signature_state,
    };

    fn package(root: &Path, id: &str, version: &str, wasm: &[u8]) -> PathBuf {
        let dir = root.join(format!("{id}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("plugin.toml"),
            format!(
                "id = \"{id}\"\nname = \"Test {id}\"\nversion = \"{version}\"\n\
                 world = \"shipping-method\"\nwit_version = \"0.1.0\"\n\
                 description = \"v{version}\"\nauthor = \"Tests\"\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("plugin.wasm"), wasm).unwrap();
        dir
    }

    #[test]
    fn publishing_signs_keeps_versions_and_replaces_a_rebuilt_one() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("dir");
        let key = PublisherKey::generate("acme").unwrap();
        let key_file = tmp.path().join("acme.key");
        key.write(&key_file).unwrap();
        let key = PublisherKey::read(&key_file, None).unwrap();
        assert_eq!(key.name, "acme");
        let first = publish(
            &[
                package(tmp.path(), "ship", "0.1.0", b"one"),
                package(tmp.path(), "ship", "0.2.0", b"two"),
            ],
            Some(&key),
            &out,
        )
        .unwrap();
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|p| !p.replaced));
        // A rebuilt 0.1.0 replaces its entry; 0.2.0 stays, and describes the plugin.
        let again = publish(
            &[package(tmp.path(), "ship", "0.1.0", b"one again")],
            Some(&key),
            &out,
        )
        .unwrap();
        assert!(again[0].replaced);
        let index = Directory::Folder(out.clone()).index().unwrap();
        let plugin = &index.plugins[0];
        let versions: Vec<&str> = plugin.versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(versions, ["0.1.0", "0.2.0"]);
        assert_eq!(plugin.description, "v0.2.0");
        assert_eq!(plugin.author, "Tests");

        let mut trust = TrustPolicy::default();
        assert_eq!(
            signature_state("ship", &plugin.versions[0], &trust),
            SignatureState::UntrustedKey { key: "acme".into() }
        );
        trust.trust_hex("acme", &key.public_hex()).unwrap();
        for v in &plugin.versions {
            assert_eq!(
                signature_state("ship", v, &trust),
                SignatureState::Trusted { key: "acme".into() }
            );
        }
        let mut tampered = plugin.versions[0].clone();
        tampered.wasm_sha256 = "0".repeat(64);
        assert_eq!(
            signature_state("ship", &tampered, &trust),
            SignatureState::Invalid { key: "acme".into() }
        );
        // The directory fetches what it lists, checksums and signature verified.
        let fetched = Directory::Folder(out)
            .fetch(
                "ship",
                &semver::VersionReq::parse("=0.1.0").unwrap(),
                &trust,
                &tmp.path().join("fetched"),
            )
            .unwrap();
        assert_eq!(
            std::fs::read(fetched.join("plugin.wasm")).unwrap(),
            b"one again"
        );
    }

    #[test]
    fn a_bad_package_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("dir");
        let good = package(tmp.path(), "ship", "0.1.0", b"one");
        let bad = tmp.path().join("empty");
        std::fs::create_dir_all(&bad).unwrap();
        assert!(publish(&[good, bad], None, &out).is_err());
        assert!(!out.join("index.json").exists());
        assert!(!out.join("ship").exists());
    }
}
