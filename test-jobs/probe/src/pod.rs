//! The pod around the collector: whether the pod's other containers still run.
//!
//! A test Job's pod shares one process namespace (`shareProcessNamespace: true`), so every
//! container's processes are visible under `/proc`: the sandbox's pause process is PID 1, the
//! collector sees its own PID, and any other live process belongs to a container still
//! running. The kubelet starts a pod's containers in order, so the test containers have
//! started before the collector (the last container) looks.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the collector looks at the pod's processes.
const POLL: Duration = Duration::from_millis(250);

/// How waiting for the other containers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// No process of another container is left.
    OthersEnded,
    /// The limit passed while other containers still ran.
    GaveUp,
}

/// Whether the collector runs in a process namespace shared with the pod's other containers:
/// it is then not PID 1 (the sandbox's pause process is).
pub fn shares_process_namespace(me: u32) -> bool {
    me != 1
}

/// The PIDs under `proc` of live processes other than PID 1 and `me` (zombies, which hold no
/// container open, do not count).
pub fn other_processes(proc: &Path, me: u32) -> io::Result<Vec<u32>> {
    let mut others = Vec::new();
    for entry in fs::read_dir(proc)? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == 1 || pid == me {
            continue;
        }
        // A process that ended between the listing and this read is gone: not counted.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `PID (COMMAND) STATE …`; COMMAND may hold spaces and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('Z') {
            others.push(pid);
        }
    }
    others.sort_unstable();
    Ok(others)
}

/// Waits until no process other than PID 1 and `me` is left under `proc`, at most `limit`.
pub fn wait_for_others(proc: &Path, me: u32, limit: Duration) -> io::Result<Waited> {
    let deadline = Instant::now() + limit;
    loop {
        if other_processes(proc, me)?.is_empty() {
            return Ok(Waited::OthersEnded);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Waited::GaveUp);
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(proc: &Path, pid: u32, command: &str, state: char) {
        let dir = proc.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("stat"),
            format!("{pid} ({command}) {state} 1 1 1 0 -1"),
        )
        .unwrap();
    }

    #[test]
    fn only_other_live_processes_count() {
        let proc = tempfile::tempdir().unwrap();
        process(proc.path(), 1, "pause", 'S');
        process(proc.path(), 7, "chorale-probe", 'R');
        process(proc.path(), 12, "run tests (e2e)", 'S');
        process(proc.path(), 13, "sh", 'Z');
        fs::create_dir(proc.path().join("self")).unwrap();
        fs::write(proc.path().join("uptime"), "1.0 1.0").unwrap();
        // Listed but gone before its stat was read.
        fs::create_dir(proc.path().join("99")).unwrap();
        assert_eq!(other_processes(proc.path(), 7).unwrap(), [12]);
    }

    #[test]
    fn waiting_ends_when_the_others_are_gone_or_at_the_limit() {
        let proc = tempfile::tempdir().unwrap();
        process(proc.path(), 1, "pause", 'S');
        process(proc.path(), 7, "chorale-probe", 'R');
        assert_eq!(
            wait_for_others(proc.path(), 7, Duration::from_mins(1)).unwrap(),
            Waited::OthersEnded
        );
        process(proc.path(), 30, "sleep", 'S');
        assert_eq!(
            wait_for_others(proc.path(), 7, Duration::from_millis(300)).unwrap(),
            Waited::GaveUp
        );
        let remover = {
            let dir = proc.path().join("30");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                fs::remove_dir_all(dir).unwrap();
            })
        };
        assert_eq!(
            wait_for_others(proc.path(), 7, Duration::from_mins(1)).unwrap(),
            Waited::OthersEnded
        );
        remover.join().unwrap();
    }

    #[test]
    fn the_collector_alone_in_its_namespace_is_pid_one() {
        assert!(!shares_process_namespace(1));
        assert!(shares_process_namespace(42));
    }
}
