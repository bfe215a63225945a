//! Running outside programs (helm, the cluster CLIs, kube-sim): finding them on a search path,
//! running them to completion with their output captured, and killing them when the caller
//! gives up (the future is dropped, e.g. on SIGINT or a timeout).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::Command;

/// A program that ran to its end.
#[derive(Debug)]
pub(crate) struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
}

impl Finished {
    /// The end of stderr (or of stdout when stderr is empty), for error messages.
    pub fn output_tail(&self) -> String {
        output_tail(&self.stdout, &self.stderr)
    }
}

/// The end of `stderr`, or of `stdout` when `stderr` is blank: what an error message quotes of
/// a failed program.
pub(crate) fn output_tail(stdout: &str, stderr: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    tail(text, TAIL_LINES)
}

/// How many lines of a program's output an error message quotes.
pub(crate) const TAIL_LINES: usize = 20;

/// Finds `program`: a path (anything with a `/`) must be an executable file; a bare name is
/// looked up in `search_path` (a `PATH`-style list), or `$PATH` when none is given.
pub(crate) fn find_program(program: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    let path = match search_path {
        Some(path) => path.to_owned(),
        None => std::env::var_os("PATH")?,
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Runs `command` to its end with stdin closed and stdout and stderr captured. The child is
/// killed if the returned future is dropped before it ends.
pub(crate) async fn run(command: &mut Command) -> std::io::Result<Finished> {
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    Ok(Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        duration: started.elapsed(),
    })
}

/// The command line, for messages: the program and its arguments separated by spaces.
pub(crate) fn describe(command: &Command) -> String {
    let command = command.as_std();
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `text`, trailing blank lines left out.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{find_program, tail};

    #[test]
    fn finds_programs_on_the_given_path_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_program("sh", None).is_some());
        assert_eq!(find_program("sh", Some(dir.path().as_os_str())), None);
        assert_eq!(find_program("/nonexistent/helm", None), None);
        let script = dir.path().join("tool");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(
            find_program("tool", Some(dir.path().as_os_str())),
            None,
            "not executable"
        );
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(
            find_program("tool", Some(dir.path().as_os_str())),
            Some(script)
        );
    }

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
