//! The process a cluster belongs to: `kube-sim serve --owner-pid PID` tears the cluster down
//! when that process is gone (killed with SIGKILL, crashed), as it does on SIGTERM, so no
//! cluster outlives the build that started it.

use std::path::Path;
use std::time::Duration;

/// How often the owner is looked for.
const POLL: Duration = Duration::from_secs(1);

/// A process, told apart from a later one with the same PID by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    started: u64,
}

impl Owner {
    /// The running process `pid`, or `None` when there is none.
    pub fn find(pid: u32) -> Option<Self> {
        Some(Self {
            pid,
            started: start_time(Path::new("/proc"), pid)?,
        })
    }

    /// Whether the process is still there (and is the same process).
    pub fn alive(self) -> bool {
        start_time(Path::new("/proc"), self.pid) == Some(self.started)
    }

    /// Resolves once the process is gone.
    pub async fn gone(self) {
        while self.alive() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The start time (field 22 of `/proc/PID/stat`, in clock ticks since boot) of `pid`; `None`
/// when there is no such process or it is a zombie.
fn start_time(proc: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    // `PID (COMMAND) STATE PPID …`: COMMAND may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // After the command: field 3 (state) is index 0, so field 22 is index 19.
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(proc: &Path, pid: u32, state: &str, started: u64) {
        let dir = proc.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let rest: Vec<String> = (4..22).map(|n| n.to_string()).collect();
        std::fs::write(
            dir.join("stat"),
            format!("{pid} (a (b) c) {state} {} {started} 0 0", rest.join(" ")),
        )
        .unwrap();
    }

    #[test]
    fn a_process_is_known_by_its_pid_and_start_time() {
        let proc = tempfile::tempdir().unwrap();
        stat(proc.path(), 41, "S", 777);
        stat(proc.path(), 42, "Z", 778);
        assert_eq!(start_time(proc.path(), 41), Some(777));
        assert_eq!(start_time(proc.path(), 42), None, "a zombie is gone");
        assert_eq!(start_time(proc.path(), 43), None);
    }

    #[test]
    fn a_killed_process_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let owner = Owner::find(child.id()).expect("the child runs");
        assert!(owner.alive());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!owner.alive(), "the killed child is gone");
        assert!(Owner::find(child.id()).is_none());
    }
}
