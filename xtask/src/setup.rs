//! What `cargo xtask demo` and `cargo xtask test` install by themselves on a fresh machine, so
//! that README's two commands are the whole set-up: the rustup target the plugins compile to,
//! the Python/JavaScript plugin toolchains, and for the tests the SMTP server and the
//! S3-compatible server they talk to and a headless Chromium with its driver.
//!
//! Each step first checks, and installs only what is missing, so a second run costs well under a
//! second. When something cannot be installed the step fails with one sentence that says what
//! to install by hand; `main` prints it as one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Result, bail};

/// The target every Rust plugin is compiled to.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The test SMTP server (tests/support/smtp.rs), pinned like the plugin toolchains.
const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// The tests' S3-compatible server (tests/media.rs), pinned like aiosmtpd.
const MOTO: &str = "moto[server]==5.2.5";

/// Where plugins/toolchains.sh puts its Python venv; the test SMTP server lives in it too, and
/// tests/support/smtp.rs finds its python here.
pub fn venv(root: &Path) -> PathBuf {
    root.join("target/toolchains/venv")
}

/// Adds a rustup target to the active toolchain when `rustup target list --installed` lacks it.
pub fn rust_target(target: &str) -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output();
    let listed = match listed {
        Ok(out) if out.status.success() => out,
        Ok(_) | Err(_) => bail!(
            "cannot check for the Rust target {target}: rustup is missing or failed \
             (install rustup from https://rustup.rs, then run `rustup target add {target}`)"
        ),
    };
    if has_target(&String::from_utf8_lossy(&listed.stdout), target) {
        return Ok(());
    }
    eprintln!("setup: installing the Rust target {target} (rustup target add {target})");
    // rustup's own report of a failure can run to a backtrace: keep its first error line.
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .stdout(Stdio::null())
        .output();
    match added {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr
                .lines()
                .find(|l| l.contains("error"))
                .map(|l| format!(" ({})", l.trim()))
                .unwrap_or_default();
            bail!(
                "could not install the Rust target {target}{why}; install it by hand with \
                 `rustup target add {target}`"
            )
        }
        Err(e) => bail!(
            "could not run rustup ({e}); install the Rust target by hand with \
             `rustup target add {target}`"
        ),
    }
}

/// Whether `rustup target list --installed` output names `target` (one target a line).
fn has_target(listing: &str, target: &str) -> bool {
    listing.lines().any(|l| l.trim() == target)
}

/// Runs plugins/toolchains.sh (componentize-py into the venv, componentize-js with `npm ci`) at
/// most once per xtask run; the script itself returns at once when both are installed at the
/// pinned versions.
pub fn plugin_toolchains(root: &Path) -> Result<()> {
    // A lock, not a once-flag: the Python and JS builds run on two threads and must not both
    // run the installer.
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *done {
        return Ok(());
    }
    for (tool, what) in [
        ("python3", "python3 (3.10+)"),
        ("npm", "node (18+) with npm"),
    ] {
        if !on_path(tool) {
            bail!(
                "the Python/JavaScript plugin toolchains need {what} on PATH; install it \
                 (Debian: apt-get install python3 python3-venv nodejs npm)"
            );
        }
    }
    if !venv(root).join("bin/python").exists() && !python_has_venv() {
        bail!(
            "python3 cannot create virtual environments; install its venv module \
             (Debian: apt-get install python3-venv)"
        );
    }
    let status = Command::new("bash")
        .arg(root.join("plugins/toolchains.sh"))
        .stdout(Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        bail!(
            "could not install the plugin toolchains (componentize-py, componentize-js): \
             plugins/toolchains.sh failed, see its messages above"
        );
    }
    *done = true;
    Ok(())
}

/// Installs aiosmtpd into the project venv (made by [`plugin_toolchains`], which runs first).
pub fn smtp_server(root: &Path) -> Result<()> {
    pip_install(
        root,
        AIOSMTPD,
        "aiosmtpd",
        "the tests' SMTP server",
        "the mail tests",
    )
}

/// Installs moto's S3-compatible server into the project venv, beside aiosmtpd.
pub fn s3_server(root: &Path) -> Result<()> {
    pip_install(
        root,
        MOTO,
        "flask",
        "the tests' S3-compatible server",
        "the media tests' S3 backend",
    )
}

/// Installs `requirement` (`name[extras]==version`) into the project venv unless that version
/// is there already and `also` (a module the extras bring) imports.
fn pip_install(
    root: &Path,
    requirement: &str,
    also: &str,
    what: &str,
    needed_by: &str,
) -> Result<()> {
    let python = venv(root).join("bin/python");
    let (name, pinned) = requirement.split_once("==").expect("a pinned requirement");
    let name = name.split('[').next().unwrap_or(name);
    let installed = Command::new(&python)
        .args([
            "-c",
            &format!("import importlib.metadata as m, {also}; print(m.version('{name}'))"),
        ])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == pinned);
    if installed {
        return Ok(());
    }
    eprintln!("setup: installing {requirement} ({what}) into target/toolchains/venv");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        bail!(
            "could not install {requirement} into {} ({needed_by} need it); install it there \
             by hand with `{} -m pip install '{requirement}'`",
            venv(root).display(),
            python.display()
        );
    }
    Ok(())
}

/// Debian's chromium and chromium-driver for tests/browser.rs, installed with apt-get when
/// running as root. `EMPORIUM_CHROMIUM` and `EMPORIUM_CHROMEDRIVER` (both set) point the browser
/// test elsewhere, and then nothing is installed.
pub fn browser() -> Result<()> {
    let custom = ["EMPORIUM_CHROMIUM", "EMPORIUM_CHROMEDRIVER"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|p| Path::new(&p).exists()));
    let missing: Vec<&str> = [
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
    ]
    .iter()
    .filter(|(path, _)| !Path::new(path).exists())
    .map(|(_, package)| *package)
    .collect();
    if custom || missing.is_empty() {
        return Ok(());
    }
    let packages = missing.join(" ");
    if !is_root() || !on_path("apt-get") {
        bail!(
            "the browser test needs Debian's {packages}: install with \
             `sudo apt-get install chromium chromium-driver` (or set EMPORIUM_CHROMIUM and \
             EMPORIUM_CHROMEDRIVER to a Chromium and its chromedriver)"
        );
    }
    eprintln!("setup: installing {packages} with apt-get (the browser test)");
    let quiet = |cmd: &mut Command| {
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(Command::new("apt-get").args(["update", "-qq"]))
        || !quiet(Command::new("apt-get").args([
            "install",
            "-y",
            "-qq",
            "chromium",
            "chromium-driver",
        ]))
    {
        bail!(
            "apt-get could not install chromium and chromium-driver (the browser test needs \
             them); see apt-get's messages above"
        );
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn python_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The dashboard's front-end packages (dashboard-assets/package.json: the Trix editor and Tom
/// Select) and the files of theirs the shop serves, copied into the default theme's
/// gitignored `static/vendor/`.
const VENDORED: [(&str, &str); 4] = [
    ("trix/dist/trix.umd.min.js", "trix.js"),
    ("trix/dist/trix.css", "trix.css"),
    (
        "tom-select/dist/js/tom-select.complete.min.js",
        "tom-select.js",
    ),
    (
        "tom-select/dist/css/tom-select.default.min.css",
        "tom-select.css",
    ),
];

/// Installs the dashboard's npm packages (`npm ci`, only when the lock file is newer than the
/// install) and copies their files into `themes/default/static/vendor/`. Without npm the
/// dashboard still works with plain inputs: this warns and goes on, except in CI (`CI` set),
/// where a missing toolchain is an error like the plugin toolchains'.
pub fn dashboard_assets(root: &Path) -> Result<()> {
    let dir = root.join("dashboard-assets");
    let modules = dir.join("node_modules");
    if !on_path("npm") {
        let why = "the dashboard's rich-text editor and searchable pickers need node (18+) with \
                   npm (Debian: apt-get install nodejs npm)";
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
            bail!("{why}");
        }
        eprintln!("warning: {why}; the dashboard uses plain inputs until then");
        return Ok(());
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&modules.join(".package-lock.json"));
    if installed.is_none() || installed < modified(&dir.join("package-lock.json")) {
        eprintln!("setup: installing the dashboard's npm packages (npm ci in dashboard-assets/)");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            bail!(
                "could not install the dashboard's npm packages: `npm ci` in dashboard-assets/ \
                 failed, see its messages above"
            );
        }
    }
    let out = root.join("themes/default/static/vendor");
    std::fs::create_dir_all(&out)?;
    for (from, to) in VENDORED {
        let source = modules.join(from);
        let bytes = std::fs::read(&source).map_err(|e| {
            anyhow::anyhow!(
                "{} is missing after npm ci ({e}); delete dashboard-assets/node_modules and run again",
                source.display()
            )
        })?;
        let target = out.join(to);
        // Unchanged files keep their modification time (and the shop its cached version).
        if std::fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::write(&target, bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_found_only_as_a_whole_line() {
        let listing = "wasm32-wasip2\nx86_64-unknown-linux-gnu\n";
        assert!(has_target(listing, "wasm32-wasip2"));
        assert!(!has_target(listing, "wasm32-wasip1"));
        assert!(!has_target(listing, "wasm32"));
        assert!(!has_target("", "wasm32-wasip2"));
    }

    #[test]
    fn a_target_rustup_does_not_know_fails_in_one_sentence() {
        let err = rust_target("wasm32-no-such-target")
            .unwrap_err()
            .to_string();
        eprintln!("{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.contains("rustup target add wasm32-no-such-target"),
            "{err}"
        );
    }
}
