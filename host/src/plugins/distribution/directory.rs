//! The plugin directory: an index of available plugins (a local folder or an http(s) URL) with
//! versions, sha256 checksums and optional ed25519 signatures. Fetching verifies everything
//! before a byte is written where the runtime would load it ("verify before load").
//!
//! Layout of a directory: `index.json` at its root, and package files at the relative paths
//! the index names:
//! ```json
//! {"plugins": [{"id": "flat-rate-shipping", "name": "Flat rate shipping",
//!   "world": "shipping-method", "description": "...",
//!   "versions": [{"version": "0.1.0", "wit_version": "0.1.0",
//!     "manifest": "flat-rate-shipping/0.1.0/plugin.toml", "manifest_sha256": "<hex>",
//!     "wasm": "flat-rate-shipping/0.1.0/plugin.wasm", "wasm_sha256": "<hex>",
//!     "key": "emporium-2026", "signature": "<hex ed25519 over signing_message()>"}]}]}
//! ```
//! A version may instead point at one `.tar.gz` package (see [`super::package`]):
//! `"package": "flat-rate-shipping/0.2.0.tar.gz", "package_sha256": "<hex>"`, signed over
//! [`package_signing_message`]. The archive's checksum and signature are verified before it is
//! unpacked.
//! Persisting what is installed (and where) is the database's job, not this module's.

use std::collections::BTreeMap;
use std::path::{Component as PathComponent, Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{ACCEPTED_WIT, Manifest};

/// Largest file fetched from a directory (components of interpreted guests are ~20 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("reading the plugin directory {location}: {message}")]
    Io { location: String, message: String },
    #[error("the directory index is invalid: {0}")]
    Index(String),
    #[error("no plugin {id:?} in the directory")]
    UnknownPlugin { id: String },
    #[error("no version of {id} matches {wanted} (and WIT {ACCEPTED_WIT})")]
    NoMatchingVersion { id: String, wanted: String },
    #[error("{id}@{version}: checksum mismatch for {file}")]
    Checksum {
        id: String,
        version: Version,
        file: String,
    },
    #[error("{id}@{version}: {message}")]
    Signature {
        id: String,
        version: Version,
        message: String,
    },
    #[error("{id}@{version}: {message}")]
    Package {
        id: String,
        version: Version,
        message: String,
    },
    #[error("{id}@{version}: the package's plugin.toml disagrees with the index: {message}")]
    Mismatch {
        id: String,
        version: Version,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub plugins: Vec<IndexPlugin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPlugin {
    pub id: String,
    pub name: String,
    pub world: String,
    #[serde(default)]
    pub description: String,
    /// Who publishes it (the manifest's `author`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    pub versions: Vec<IndexVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexVersion {
    pub version: String,
    pub wit_version: String,
    /// The two files of a folder package (empty when `package` is used).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest_sha256: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wasm: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wasm_sha256: String,
    /// A `.tar.gz` package holding plugin.toml, plugin.wasm and optional README/icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_sha256: Option<String>,
    /// Name of the signing key (looked up in the merchant's trusted keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Hex ed25519 signature over [`signing_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The keys a merchant trusts, by name, and whether unsigned packages are refused.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    pub keys: BTreeMap<String, VerifyingKey>,
    pub require_signature: bool,
}

impl TrustPolicy {
    /// Adds a trusted key given as 64 hex digits.
    pub fn trust_hex(&mut self, name: &str, public_key_hex: &str) -> Result<(), DirectoryError> {
        let bytes: [u8; 32] = hex::decode(public_key_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| DirectoryError::Index(format!("key {name}: not 32 hex bytes")))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| DirectoryError::Index(format!("key {name}: {e}")))?;
        self.keys.insert(name.to_string(), key);
        Ok(())
    }
}

/// What is signed: binds the id, the version and both files' hashes.
pub fn signing_message(
    id: &str,
    version: &str,
    manifest_sha256: &str,
    wasm_sha256: &str,
) -> Vec<u8> {
    format!("emporium-plugin-v1\n{id}\n{version}\n{manifest_sha256}\n{wasm_sha256}\n").into_bytes()
}

/// What is signed for a `.tar.gz` package: the id, the version and the archive's hash.
pub fn package_signing_message(id: &str, version: &str, package_sha256: &str) -> Vec<u8> {
    format!("emporium-plugin-package-v1\n{id}\n{version}\n{package_sha256}\n").into_bytes()
}

/// The message an index entry's signature covers.
pub fn entry_signing_message(id: &str, v: &IndexVersion) -> Vec<u8> {
    match &v.package_sha256 {
        Some(sha) if v.package.is_some() => package_signing_message(id, &v.version, sha),
        _ => signing_message(id, &v.version, &v.manifest_sha256, &v.wasm_sha256),
    }
}

/// Signs an index entry (for publishers and tests).
pub fn sign(key: &SigningKey, id: &str, v: &IndexVersion) -> String {
    hex::encode(key.sign(&entry_signing_message(id, v)).to_bytes())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory: a local folder or an http(s) base URL.
#[derive(Debug, Clone)]
pub enum Directory {
    Folder(PathBuf),
    Url(String),
}

impl Directory {
    /// `location` is a path, or a URL starting with `http://` or `https://`.
    pub fn open(location: &str) -> Directory {
        if location.starts_with("http://") || location.starts_with("https://") {
            Directory::Url(location.trim_end_matches('/').to_string())
        } else {
            Directory::Folder(PathBuf::from(location))
        }
    }

    fn read(&self, relative: &str) -> Result<Vec<u8>, DirectoryError> {
        // Index paths are relative and may not climb out of the directory.
        let rel = Path::new(relative);
        if rel
            .components()
            .any(|c| !matches!(c, PathComponent::Normal(_)))
        {
            return Err(DirectoryError::Index(format!(
                "path {relative:?} must be relative, without `..`"
            )));
        }
        match self {
            Directory::Folder(root) => {
                let path = root.join(rel);
                let io = |e: std::io::Error| DirectoryError::Io {
                    location: path.display().to_string(),
                    message: e.to_string(),
                };
                let len = std::fs::metadata(&path).map_err(io)?.len();
                if len > MAX_FILE_BYTES {
                    return Err(DirectoryError::Index(format!("{relative} is too large")));
                }
                std::fs::read(&path).map_err(io)
            }
            Directory::Url(base) => {
                let url = format!("{base}/{relative}");
                let io = |message: String| DirectoryError::Io {
                    location: url.clone(),
                    message,
                };
                let mut response = ureq::get(&url).call().map_err(|e| io(e.to_string()))?;
                response
                    .body_mut()
                    .with_config()
                    .limit(MAX_FILE_BYTES)
                    .read_to_vec()
                    .map_err(|e| io(e.to_string()))
            }
        }
    }

    pub fn index(&self) -> Result<Index, DirectoryError> {
        let bytes = self.read("index.json")?;
        serde_json::from_slice(&bytes).map_err(|e| DirectoryError::Index(e.to_string()))
    }

    /// Plugins whose id, name or description contains `query` (case-insensitive).
    pub fn search(&self, query: &str) -> Result<Vec<IndexPlugin>, DirectoryError> {
        let q = query.to_lowercase();
        Ok(self
            .index()?
            .plugins
            .into_iter()
            .filter(|p| {
                [&p.id, &p.name, &p.description]
                    .iter()
                    .any(|s| s.to_lowercase().contains(&q))
            })
            .collect())
    }

    /// The newest version of `id` matching `wanted` whose WIT version this host accepts.
    pub fn resolve(
        &self,
        id: &str,
        wanted: &VersionReq,
    ) -> Result<(IndexPlugin, Version, IndexVersion), DirectoryError> {
        let index = self.index()?;
        let plugin = index
            .plugins
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| DirectoryError::UnknownPlugin { id: id.to_string() })?;
        let accepted =
            VersionReq::parse(ACCEPTED_WIT).map_err(|e| DirectoryError::Index(e.to_string()))?;
        let (version, entry) = plugin
            .versions
            .iter()
            .filter_map(|v| {
                let version = Version::parse(&v.version).ok()?;
                let wit = Version::parse(&v.wit_version).ok()?;
                (wanted.matches(&version) && accepted.matches(&wit)).then_some((version, v))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(v, e)| (v, e.clone()))
            .ok_or_else(|| DirectoryError::NoMatchingVersion {
                id: id.to_string(),
                wanted: wanted.to_string(),
            })?;
        Ok((plugin, version, entry))
    }

    /// Downloads the newest version of `id` matching `wanted` (and a WIT version this host
    /// accepts), verifies checksums, signature and manifest, and only then writes it to
    /// `dest/<id>/<version>/` (atomically: a temporary folder renamed into place). Returns that
    /// folder, ready for `PluginRuntime::load_dir`.
    pub fn fetch(
        &self,
        id: &str,
        wanted: &VersionReq,
        trust: &TrustPolicy,
        dest: &Path,
    ) -> Result<PathBuf, DirectoryError> {
        let (plugin, version, entry) = self.resolve(id, wanted)?;
        let checksum = |file: &str| DirectoryError::Checksum {
            id: id.to_string(),
            version: version.clone(),
            file: file.to_string(),
        };
        let tmp = dest.join(format!(".{id}-{version}-{}.partial", std::process::id()));
        let io = |e: std::io::Error| DirectoryError::Io {
            location: tmp.display().to_string(),
            message: e.to_string(),
        };
        let mismatch = |message: String| DirectoryError::Mismatch {
            id: id.to_string(),
            version: version.clone(),
            message,
        };
        let _ = std::fs::remove_dir_all(&tmp);
        let manifest_bytes = match (&entry.package, &entry.package_sha256) {
            (Some(package), Some(sha)) => {
                let archive = self.read(package)?;
                if !sha256_hex(&archive).eq_ignore_ascii_case(sha) {
                    return Err(checksum(package));
                }
                verify_signature(id, &version, &entry, trust)?;
                // Verified: only now is the archive unpacked (with its own safety checks).
                super::package::unpack(&archive, &tmp).map_err(|e| {
                    let _ = std::fs::remove_dir_all(&tmp);
                    DirectoryError::Package {
                        id: id.to_string(),
                        version: version.clone(),
                        message: e.to_string(),
                    }
                })?;
                std::fs::read(tmp.join("plugin.toml")).map_err(io)?
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(DirectoryError::Index(format!(
                    "{id}@{version}: `package` needs `package_sha256`"
                )));
            }
            (None, None) => {
                let manifest_bytes = self.read(&entry.manifest)?;
                let wasm = self.read(&entry.wasm)?;
                if !sha256_hex(&manifest_bytes).eq_ignore_ascii_case(&entry.manifest_sha256) {
                    return Err(checksum("plugin.toml"));
                }
                if !sha256_hex(&wasm).eq_ignore_ascii_case(&entry.wasm_sha256) {
                    return Err(checksum("plugin.wasm"));
                }
                verify_signature(id, &version, &entry, trust)?;
                std::fs::create_dir_all(&tmp).map_err(io)?;
                std::fs::write(tmp.join("plugin.toml"), &manifest_bytes).map_err(io)?;
                std::fs::write(tmp.join("plugin.wasm"), &wasm).map_err(io)?;
                manifest_bytes
            }
        };
        let checked = (|| {
            let text =
                String::from_utf8(manifest_bytes.clone()).map_err(|e| mismatch(e.to_string()))?;
            let manifest = Manifest::parse(&text).map_err(|e| mismatch(e.to_string()))?;
            if manifest.id != id
                || manifest.version != version
                || manifest.world.name() != plugin.world
            {
                return Err(mismatch(format!(
                    "it says {}@{} ({})",
                    manifest.id, manifest.version, manifest.world
                )));
            }
            Ok::<(), DirectoryError>(())
        })();
        if let Err(e) = checked {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let final_dir = dest.join(id).join(version.to_string());
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(io)?;
        }
        if let Some(parent) = final_dir.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(io)?;
        Ok(final_dir)
    }
}

/// What a shop can say about a directory entry's signature before fetching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// Signed with a key this shop trusts, and the signature matches the entry.
    Trusted {
        key: String,
    },
    /// Signed with a key this shop does not trust: fetching it fails (a signature that cannot
    /// be checked is refused even when signatures are optional).
    UntrustedKey {
        key: String,
    },
    /// Signed with a trusted key, but the signature does not match (tampered with).
    Invalid {
        key: String,
    },
    Unsigned,
}

/// The signature state of `id`'s `entry` under `trust` (the same check [`Directory::fetch`]
/// makes; the checksums of the files are checked only when fetching).
pub fn signature_state(id: &str, entry: &IndexVersion, trust: &TrustPolicy) -> SignatureState {
    let Some(key) = entry.key.clone() else {
        return SignatureState::Unsigned;
    };
    if !trust.keys.contains_key(&key) {
        return SignatureState::UntrustedKey { key };
    }
    let version = Version::parse(&entry.version).unwrap_or(Version::new(0, 0, 0));
    let lenient = TrustPolicy {
        keys: trust.keys.clone(),
        require_signature: false,
    };
    match verify_signature(id, &version, entry, &lenient) {
        Ok(()) => SignatureState::Trusted { key },
        Err(_) => SignatureState::Invalid { key },
    }
}

fn verify_signature(
    id: &str,
    version: &Version,
    entry: &IndexVersion,
    trust: &TrustPolicy,
) -> Result<(), DirectoryError> {
    let fail = |message: String| DirectoryError::Signature {
        id: id.to_string(),
        version: version.clone(),
        message,
    };
    let (key_name, signature) = match (&entry.key, &entry.signature) {
        (Some(k), Some(s)) => (k, s),
        (None, None) if !trust.require_signature => return Ok(()),
        (None, None) => return Err(fail("unsigned, and this shop requires signatures".into())),
        _ => return Err(fail("a signature needs both `key` and `signature`".into())),
    };
    let key = trust.keys.get(key_name).ok_or_else(|| {
        fail(format!(
            "signed with {key_name:?}, which this shop does not trust"
        ))
    })?;
    let bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail("signature is not 64 hex bytes".into()))?;
    key.verify(
        &entry_signing_message(id, entry),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| fail(format!("bad signature for key {key_name:?}")))
}
