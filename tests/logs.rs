//! The `emporium` binary's log lines, read from its real output: at `info` they are sentences
//! for a person (no `Debug` dumps such as `PluginRef { id: …, version: Version { … } }`), and
//! they carry colour codes only on a terminal, never into a pipe or a log file.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

#[test]
fn a_plugin_install_logs_a_plain_sentence() {
    let plugin = root().join("target/plugins/flat-rate-shipping");
    assert!(
        plugin.join("plugin.wasm").is_file(),
        "{} is built by `cargo xtask build-plugins`",
        plugin.display()
    );
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["plugin", "install"])
        .arg(&plugin)
        .args(["--set", "charge=2.50"])
        .env("EMPORIUM_LOG", "info")
        .env_remove("EMPORIUM_DATABASE_URL")
        .env_remove("EMPORIUM_CONFIG")
        .env_remove("EMPORIUM_DATA_DIR")
        .output()
        .expect("running emporium");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let logged = format!("{stdout}{stderr}");
    let line = logged
        .lines()
        .find(|l| l.contains(" INFO ") && l.contains("flat-rate-shipping"))
        .unwrap_or_else(|| panic!("no info line about the plugin:\n{logged}"));
    assert!(
        line.contains("Plugin flat-rate-shipping@") && line.contains("was installed"),
        "{line}"
    );
    assert!(!line.contains("PluginRef") && !line.contains('{'), "{line}");
    // Output into a pipe: no ANSI escape codes anywhere.
    assert!(
        !logged.contains('\u{1b}'),
        "colour codes in piped output:\n{logged:?}"
    );
}
