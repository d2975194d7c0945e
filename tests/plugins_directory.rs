//! The plugin directory: fetch verifies checksums, signatures and the manifest before anything
//! is written where the runtime loads from; the fetched folder loads and runs.

mod plugins_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ed25519_dalek::SigningKey;
use emporium::plugins::distribution::directory::*;
use emporium::plugins::*;
use plugins_support::*;
use semver::VersionReq;

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join("target/tmp-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const KEY: [u8; 32] = [7; 32];

/// A directory with flat-rate-shipping 0.1.0, signed with KEY when `signed`.
fn publish(signed: bool) -> PathBuf {
    let dir = scratch("directory");
    let src = plugin_dir("flat-rate-shipping");
    let pkg = dir.join("flat-rate-shipping/0.1.0");
    std::fs::create_dir_all(&pkg).unwrap();
    let manifest = std::fs::read(src.join("plugin.toml")).unwrap();
    let wasm = std::fs::read(src.join("plugin.wasm")).unwrap();
    std::fs::write(pkg.join("plugin.toml"), &manifest).unwrap();
    std::fs::write(pkg.join("plugin.wasm"), &wasm).unwrap();
    let mut version = IndexVersion {
        version: "0.1.0".into(),
        wit_version: "0.1.0".into(),
        manifest: "flat-rate-shipping/0.1.0/plugin.toml".into(),
        manifest_sha256: sha256_hex(&manifest),
        wasm: "flat-rate-shipping/0.1.0/plugin.wasm".into(),
        wasm_sha256: sha256_hex(&wasm),
        package: None,
        package_sha256: None,
        key: None,
        signature: None,
    };
    if signed {
        version.key = Some("shop-key".into());
        version.signature = Some(sign(
            &SigningKey::from_bytes(&KEY),
            "flat-rate-shipping",
            &version,
        ));
    }
    let index = Index {
        plugins: vec![IndexPlugin {
            id: "flat-rate-shipping".into(),
            name: "Flat rate shipping".into(),
            world: "shipping-method".into(),
            description: "One charge per order".into(),
            author: String::new(),
            versions: vec![version],
        }],
    };
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
    dir
}

fn trust() -> TrustPolicy {
    let mut t = TrustPolicy {
        require_signature: true,
        ..Default::default()
    };
    let public = SigningKey::from_bytes(&KEY).verifying_key();
    t.trust_hex("shop-key", &hex::encode(public.to_bytes()))
        .unwrap();
    t
}

fn any() -> VersionReq {
    VersionReq::parse("*").unwrap()
}

#[test]
fn fetch_verifies_then_the_plugin_loads_and_runs() {
    let dir = publish(true);
    let directory = Directory::open(dir.to_str().unwrap());
    assert_eq!(directory.search("flat").unwrap().len(), 1);
    assert!(directory.search("payment").unwrap().is_empty());
    let dest = scratch("installed");
    let folder = directory
        .fetch("flat-rate-shipping", &any(), &trust(), &dest)
        .unwrap();
    let reg = PluginRegistry::new(runtime());
    reg.install_dir(&folder, InstallOptions::default()).unwrap();
    assert_eq!(
        reg.quote_shipping("flat-rate-shipping", &shipping_request(1))
            .unwrap()
            .len(),
        1
    );
}

fn assert_nothing_installed(dest: &Path) {
    assert!(
        !dest.join("flat-rate-shipping").exists(),
        "a refused package was written"
    );
}

#[test]
fn bad_checksum_is_refused_before_writing() {
    let dir = publish(true);
    std::fs::write(
        dir.join("flat-rate-shipping/0.1.0/plugin.wasm"),
        b"tampered",
    )
    .unwrap();
    let dest = scratch("installed");
    let err = Directory::open(dir.to_str().unwrap())
        .fetch("flat-rate-shipping", &any(), &trust(), &dest)
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Checksum { file, .. } if file == "plugin.wasm"),
        "{err}"
    );
    assert_nothing_installed(&dest);
}

#[test]
fn bad_or_untrusted_signature_is_refused() {
    let dest = scratch("installed");
    // Signed by a key the shop does not trust.
    let dir = publish(true);
    let mut other = TrustPolicy {
        require_signature: true,
        ..Default::default()
    };
    other
        .trust_hex(
            "shop-key",
            &hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes()),
        )
        .unwrap();
    let err = Directory::open(dir.to_str().unwrap())
        .fetch("flat-rate-shipping", &any(), &other, &dest)
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Signature { message, .. } if message.contains("bad signature")),
        "{err}"
    );
    // Unsigned while signatures are required.
    let unsigned = publish(false);
    let err = Directory::open(unsigned.to_str().unwrap())
        .fetch("flat-rate-shipping", &any(), &trust(), &dest)
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Signature { .. }));
    assert_nothing_installed(&dest);
    // Unsigned is fine when the shop does not require signatures.
    let relaxed = TrustPolicy::default();
    assert!(
        Directory::open(unsigned.to_str().unwrap())
            .fetch("flat-rate-shipping", &any(), &relaxed, &dest)
            .is_ok()
    );
}

#[test]
fn index_that_lies_about_the_world_is_refused() {
    let dir = publish(false);
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    std::fs::write(
        dir.join("index.json"),
        index.replace("\"shipping-method\"", "\"pricing-strategy\""),
    )
    .unwrap();
    let dest = scratch("installed");
    let err = Directory::open(dir.to_str().unwrap())
        .fetch("flat-rate-shipping", &any(), &TrustPolicy::default(), &dest)
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Mismatch { .. }), "{err}");
    assert!(matches!(
        Directory::open(dir.to_str().unwrap()).fetch(
            "flat-rate-shipping",
            &VersionReq::parse(">=1").unwrap(),
            &TrustPolicy::default(),
            &dest
        ),
        Err(DirectoryError::NoMatchingVersion { .. })
    ));
}

#[test]
fn directory_over_http() {
    let dir = publish(true);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = dir.clone();
    // Serves exactly the three files a fetch needs, then stops.
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = std::fs::read(served.join(&path)).unwrap_or_default();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    let dest = scratch("installed");
    let folder = Directory::open(&format!("http://127.0.0.1:{port}"))
        .fetch("flat-rate-shipping", &any(), &trust(), &dest)
        .unwrap();
    server.join().unwrap();
    assert!(runtime().load_dir(&folder).is_ok());
}
