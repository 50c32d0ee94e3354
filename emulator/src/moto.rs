//! moto server (PyPI `moto[server]`) as the local Kinesis / SQS, started on a
//! free loopback port and stopped when dropped.
//!
//! The binary comes from the project's pinned tool folder: `scripts/tools.sh`
//! installs it into `.tools/venv/bin`, and `scripts/test.sh` exports that
//! directory as `WARDEN_TOOLS_BIN`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto_server not found (looked in {looked}); run scripts/tools.sh, or run the suite with scripts/test.sh"
    )]
    NotInstalled { looked: String },
    #[error("cannot start {binary}: {cause}")]
    Spawn {
        binary: String,
        cause: std::io::Error,
    },
    #[error("cannot find a free loopback port: {0}")]
    Port(std::io::Error),
    #[error("moto_server did not start listening on {addr} within {timeout:?}{status}")]
    NotReady {
        addr: SocketAddr,
        timeout: Duration,
        status: String,
    },
}

/// A running moto server on loopback.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
}

/// Where the pinned tools live: `$WARDEN_TOOLS_BIN`, else `.tools/venv/bin`
/// under the workspace root.
pub fn tools_bin() -> PathBuf {
    match std::env::var_os("WARDEN_TOOLS_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin"),
    }
}

fn free_port() -> Result<u16, MotoError> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(MotoError::Port)?;
    Ok(l.local_addr().map_err(MotoError::Port)?.port())
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it accepts
    /// connections.
    pub fn start() -> Result<Self, MotoError> {
        let binary = tools_bin().join("moto_server");
        if !binary.is_file() {
            return Err(MotoError::NotInstalled {
                looked: binary.display().to_string(),
            });
        }
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|cause| MotoError::Spawn {
                binary: binary.display().to_string(),
                cause,
            })?;
        let mut server = MotoServer { child, addr };
        let timeout = Duration::from_secs(30);
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(MotoError::NotReady {
                    addr,
                    timeout,
                    status: format!(" (it exited: {status})"),
                });
            }
            if start.elapsed() > timeout {
                return Err(MotoError::NotReady {
                    addr,
                    timeout,
                    status: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `endpoint_url` for Kinesis / SQS clients.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
