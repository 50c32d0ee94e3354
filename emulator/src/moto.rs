//! moto server (PyPI `moto[server]`) as the local Kinesis / SQS, started on a
//! free loopback port and stopped when dropped.
//!
//! The binary is found at run time, never at a path compiled into the
//! program ([`find_tool`]): `WARDEN_MOTO_SERVER` (the executable itself),
//! then `WARDEN_TOOLS_BIN` (the pinned tool folder `scripts/test.sh`
//! exports), then `PATH`, then the `.tools/venv/bin` of the project the
//! current directory is in (`scripts/tools.sh` installs the pinned moto
//! there). A release `warden` copied anywhere finds it the same way.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto_server not found (looked at {looked}); install the pinned one with `scripts/tools.sh` in an euc-warden checkout (or `pip install 'moto[server]==5.2.5'`), or point WARDEN_MOTO_SERVER at it"
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

/// Where a helper program may be, in the order [`find_tool`] looks.
#[derive(Debug, Clone, Default)]
pub struct ToolSearch {
    /// The program itself, named by its own variable (`WARDEN_MOTO_SERVER`).
    pub explicit: Option<PathBuf>,
    /// The pinned tool folder (`WARDEN_TOOLS_BIN`, set by scripts/test.sh).
    pub tools_bin: Option<PathBuf>,
    /// The `PATH` value.
    pub path: Option<std::ffi::OsString>,
    /// Where the project search starts (the current directory).
    pub cwd: Option<PathBuf>,
}

impl ToolSearch {
    /// The process's own environment; `var` names the program's variable.
    pub fn from_env(var: &str) -> ToolSearch {
        ToolSearch {
            explicit: std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            tools_bin: std::env::var_os("WARDEN_TOOLS_BIN")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            path: std::env::var_os("PATH"),
            cwd: std::env::current_dir().ok(),
        }
    }
}

/// Finds the executable `name`: the explicit path, then the tool folder,
/// then every `PATH` entry, then `.tools/venv/bin/` of the nearest project
/// above the current directory. On failure, every place looked at.
pub fn find_tool(name: &str, search: &ToolSearch) -> Result<PathBuf, Vec<PathBuf>> {
    let mut looked = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = &search.explicit {
        // An explicit setting is the only candidate: a wrong one is an error,
        // not a reason to pick another program silently.
        return if is_executable(p) {
            Ok(p.clone())
        } else {
            Err(vec![p.clone()])
        };
    }
    if let Some(dir) = &search.tools_bin {
        candidates.push(dir.join(name));
    }
    if let Some(path) = &search.path {
        candidates.extend(std::env::split_paths(path).map(|d| d.join(name)));
    }
    if let Some(cwd) = &search.cwd {
        candidates.extend(
            cwd.ancestors()
                .map(|d| d.join(".tools").join("venv").join("bin").join(name)),
        );
    }
    for c in candidates {
        if is_executable(&c) {
            return Ok(c);
        }
        looked.push(c);
    }
    Err(looked)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The moto server executable (see [`find_tool`]; `WARDEN_MOTO_SERVER`).
pub fn moto_server_binary() -> Result<PathBuf, MotoError> {
    find_tool("moto_server", &ToolSearch::from_env("WARDEN_MOTO_SERVER")).map_err(|looked| {
        // The first few places and the count keep the message readable.
        let mut shown: Vec<String> = looked
            .iter()
            .take(4)
            .map(|p| p.display().to_string())
            .collect();
        if looked.len() > 4 {
            shown.push(format!("and {} more", looked.len() - 4));
        }
        MotoError::NotInstalled {
            looked: shown.join(", "),
        }
    })
}

fn free_port() -> Result<u16, MotoError> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(MotoError::Port)?;
    Ok(l.local_addr().map_err(MotoError::Port)?.port())
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it accepts
    /// connections.
    pub fn start() -> Result<Self, MotoError> {
        let binary = moto_server_binary()?;
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

/// An SNS topic on moto with an SQS queue (`NAME-inbox`) subscribed to
/// it: what the notification tests publish to and read back from.
pub struct TopicInbox {
    /// The SNS client the topic was created with (give it to a notifier).
    pub sns: aws_sdk_sns::Client,
    /// The topic's ARN.
    pub arn: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl TopicInbox {
    /// Creates topic `name` and its subscribed queue with `sdk` (which must
    /// point at moto's endpoint).
    pub async fn create(sdk: &aws_types::SdkConfig, name: &str) -> TopicInbox {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue URL");
        let qarn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(qarn.clone())
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&qarn))
            .expect("queue ARN");
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe the queue");
        TopicInbox {
            sns,
            arn,
            sqs,
            queue_url,
        }
    }

    /// Every SNS envelope delivered so far (and deletes them).
    pub async fn drain(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete message");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("warden-find-tool-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn program(dir: &Path, name: &str, executable: bool) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn explicit_then_tool_folder_then_path_then_the_project() {
        let d = scratch("order");
        let project = d.join("checkout");
        let in_project = program(&project.join(".tools/venv/bin"), "moto_server", true);
        let deep = project.join("functions/audit-stream/src");
        std::fs::create_dir_all(&deep).unwrap();
        let on_path = program(&d.join("bin"), "moto_server", true);
        let tools = program(&d.join("tools"), "moto_server", true);
        let explicit = program(&d.join("x"), "my-moto", true);
        let path = std::env::join_paths([d.join("empty"), d.join("bin")]).unwrap();

        let mut s = ToolSearch {
            explicit: Some(explicit.clone()),
            tools_bin: Some(d.join("tools")),
            path: Some(path.clone()),
            cwd: Some(deep.clone()),
        };
        assert_eq!(find_tool("moto_server", &s).unwrap(), explicit);
        s.explicit = None;
        assert_eq!(find_tool("moto_server", &s).unwrap(), tools);
        s.tools_bin = None;
        assert_eq!(find_tool("moto_server", &s).unwrap(), on_path);
        s.path = None;
        // From a directory deep inside the checkout: the project's own tools.
        assert_eq!(find_tool("moto_server", &s).unwrap(), in_project);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_wrong_explicit_setting_is_an_error_not_a_fallback() {
        let d = scratch("explicit");
        let not_executable = program(&d, "moto_server", false);
        let on_path = program(&d.join("bin"), "moto_server", true);
        let s = ToolSearch {
            explicit: Some(not_executable.clone()),
            path: Some(std::env::join_paths([on_path.parent().unwrap()]).unwrap()),
            ..ToolSearch::default()
        };
        assert_eq!(
            find_tool("moto_server", &s).unwrap_err(),
            vec![not_executable]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn nothing_found_lists_where_it_looked() {
        let d = scratch("none");
        let s = ToolSearch {
            path: Some(std::env::join_paths([d.join("a"), d.join("b")]).unwrap()),
            cwd: Some(d.clone()),
            ..ToolSearch::default()
        };
        let looked = find_tool("moto_server", &s).unwrap_err();
        assert_eq!(looked[0], d.join("a/moto_server"));
        assert_eq!(looked[1], d.join("b/moto_server"));
        assert_eq!(looked[2], d.join(".tools/venv/bin/moto_server"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
