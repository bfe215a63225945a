//! Running programs for the fixtures: finding them, running them to completion, and keeping
//! servers alive until they are dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::errors::Error;

/// How long a fixture waits for its server to answer.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Finds `binary` on `PATH` (or checks an explicit path).
pub(crate) fn require(binary: &str, purpose: &'static str) -> Result<PathBuf, Error> {
    let missing = || Error::MissingBinary {
        binary: binary.to_owned(),
        purpose,
    };
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(missing())
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .ok_or_else(missing)
}

/// Returns the path in `cache`, or finds it with `find` and keeps it on success. The lock is
/// held while finding, so threads of one process find it once.
pub(crate) fn cached_path(
    cache: &Mutex<Option<PathBuf>>,
    find: impl FnOnce() -> Result<PathBuf, Error>,
) -> Result<PathBuf, Error> {
    let mut cached = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = cached.as_ref() {
        return Ok(path.clone());
    }
    let path = find()?;
    *cached = Some(path.clone());
    Ok(path)
}

/// The command line, for messages.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command to completion and returns its stdout; a failure carries its stderr.
pub(crate) fn run(command: &mut Command) -> Result<String, Error> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: describe(command),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(Error::CommandFailed {
        command: describe(command),
        status: output.status,
        output: if stderr.is_empty() {
            stdout.trim().to_owned()
        } else {
            stderr
        },
    })
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|source| Error::io("binding a free port on", "127.0.0.1:0", source))
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub(crate) fn answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub(crate) fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A server process: its output goes to a log file; it is killed when dropped.
#[derive(Debug)]
pub(crate) struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
    /// For [`Daemon::spawn_until_exit`]: the pipe whose closing stops the server.
    lifeline: Option<ChildStdin>,
}

/// Runs `"$@"` and kills it when the shell's stdin reaches its end, that is when the process
/// holding the other end of the pipe exits (or drops it); exits with the server's status.
const UNTIL_STDIN_CLOSES: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
{ cat <&3 >/dev/null; kill "$server" 2>/dev/null; } &
wait "$server""#;

impl Daemon {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &str, command: &mut Command, log: &Path) -> Result<Self, Error> {
        Self::spawn_with(name, command, log, Stdio::null())
    }

    /// Starts `program` with `args` like [`Daemon::spawn`], for a server kept in a `static`,
    /// which is never dropped: it runs under `sh`, which kills it when this process exits,
    /// however it exits (the kernel closes the pipe the shell waits on).
    pub(crate) fn spawn_until_exit(
        name: &str,
        program: &Path,
        args: &[&std::ffi::OsStr],
        log: &Path,
    ) -> Result<Self, Error> {
        let mut command = Command::new("sh");
        command
            .args(["-c", UNTIL_STDIN_CLOSES, "sh"])
            .arg(program)
            .args(args);
        let mut daemon = Self::spawn_with(name, &mut command, log, Stdio::piped())?;
        daemon.lifeline = daemon.child.stdin.take();
        Ok(daemon)
    }

    fn spawn_with(
        name: &str,
        command: &mut Command,
        log: &Path,
        stdin: Stdio,
    ) -> Result<Self, Error> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| Error::io("opening", log, source))?;
        let stderr = file
            .try_clone()
            .map_err(|source| Error::io("opening", log, source))?;
        let child = command
            .stdin(stdin)
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn {
                command: describe(command),
                source,
            })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            lifeline: None,
        })
    }

    /// Stops the process where it is (`SIGSTOP`): it keeps its port, and the kernel keeps
    /// accepting connections that nobody reads — a peer that hangs. [`Daemon::resume`] lets it go
    /// on.
    pub(crate) fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused process go on (`SIGCONT`).
    pub(crate) fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits an i32");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .unwrap_or_else(|error| panic!("{signal} to {}: {error}", self.name));
    }

    /// Waits until something accepts connections on `port`; fails early if the process exits.
    pub(crate) fn wait_for_port(&mut self, port: u16) -> Result<(), Error> {
        self.wait_for_port_within(port, START_TIMEOUT)
    }

    /// [`Daemon::wait_for_port`] for a server slower to start than most.
    pub(crate) fn wait_for_port_within(
        &mut self,
        port: u16,
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut exited = None;
        let answered = wait_for(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return true;
            }
            answers(port)
        });
        if let Some(status) = exited {
            return Err(Error::Exited {
                server: self.name.clone(),
                status,
                log: self.log.clone(),
                tail: log_tail(&self.log),
            });
        }
        if answered {
            Ok(())
        } else {
            Err(Error::NotReady {
                server: self.name.clone(),
                timeout,
                log: self.log.clone(),
                tail: log_tail(&self.log),
            })
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.lifeline.take().is_some() {
            // The shell kills the server when its pipe closes, and then exits.
            let _ = self.child.wait();
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server on a fresh free port, retrying with another port when the chosen one was
/// taken in between (another test may grab it first).
pub(crate) fn start_on_free_port<T>(
    mut start: impl FnMut(u16) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match start(free_port()?) {
            Err(error)
                if attempt < 5
                    && error
                        .to_string()
                        .to_ascii_lowercase()
                        .contains("address already in use") => {}
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{require, run};

    #[test]
    fn a_missing_program_names_itself_and_the_installer() {
        let message = require("chorale-no-such-program", "for a test")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "`chorale-no-such-program` is not installed or not on PATH (for a test); run infra/dev/install"
        );
        assert!(require("/nonexistent/initdb", "for a test").is_err());
        assert!(require("sh", "for a test").unwrap().is_file());
    }

    #[test]
    fn a_failed_command_carries_its_stderr() {
        let message =
            run(std::process::Command::new("sh").args(["-c", "echo out; echo broken >&2; exit 3"]))
                .unwrap_err()
                .to_string();
        assert_eq!(
            message,
            "`sh -c echo out; echo broken >&2; exit 3` failed with exit status: 3: broken"
        );
    }
}
