//! A real SMTP server on loopback for tests: aiosmtpd (PyPI) storing every message it accepts
//! in a Maildir in a temp dir. Messages are parsed with Python's `email` package (so MIME
//! decoding is a real mail library's, not ours).
//!
//! `cargo xtask test` installs aiosmtpd into the project venv, target/toolchains/venv (beside
//! componentize-py), and the python found there runs both; without that venv, `python3`.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// One delivered message, as a mail reader sees it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Delivered {
    pub path: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub message_id: String,
    /// `multipart/alternative` for text + HTML.
    pub content_type: String,
    /// The envelope recipients aiosmtpd recorded (`X-RcptTo`).
    pub rcpt_to: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

const PARSE: &str = r#"
import sys, json, email, email.policy
out = []
for p in sys.argv[1:]:
    with open(p, 'rb') as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    text = m.get_body(('plain',))
    html = m.get_body(('html',))
    out.append(dict(path=p, to=str(m['To'] or ''), from_=str(m['From'] or ''),
        subject=str(m['Subject'] or ''), message_id=str(m['Message-ID'] or ''),
        content_type=m.get_content_type(), rcpt_to=str(m['X-RcptTo'] or ''),
        text=text.get_content() if text is not None else None,
        html=html.get_content() if html is not None else None))
print(json.dumps(out).replace('"from_":', '"from":'))
"#;

/// The project venv's python when it exists (nothing for the caller to set), else `python3`.
pub fn python() -> PathBuf {
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Parses `.eml` / Maildir files (in the given order).
pub fn parse_messages(paths: &[PathBuf]) -> Vec<Delivered> {
    if paths.is_empty() {
        return Vec::new();
    }
    let output = Command::new(python())
        .arg("-c")
        .arg(PARSE)
        .args(paths)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "parsing mail failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parser output is JSON")
}

/// Every regular file directly in `dir`, oldest first.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| {
            let modified = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (modified, e.path())
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

impl SmtpServer {
    /// Starts aiosmtpd on a free loopback port and waits until it accepts connections.
    pub fn start() -> SmtpServer {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut server = SmtpServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.run();
        server
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("aiosmtpd.log"))
            .unwrap();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} -m aiosmtpd: {e}", python().display()));
        self.child = Some(child);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "aiosmtpd exited ({status}) before listening (`cargo xtask test` installs \
                     it into target/toolchains/venv): {}",
                    std::fs::read_to_string(self.dir.path().join("aiosmtpd.log"))
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (connections are refused until [`SmtpServer::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, keeping what was delivered.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Every message delivered so far, oldest first.
    pub fn messages(&self) -> Vec<Delivered> {
        parse_messages(&files_in(&self.maildir().join("new")))
    }

    /// Waits until at least `count` messages arrived (panics after `timeout`), then returns all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivered> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = files_in(&self.maildir().join("new")).len();
            if n >= count {
                return self.messages();
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} messages within {timeout:?}, got {n}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
