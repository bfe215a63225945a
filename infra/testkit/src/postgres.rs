//! [`Postgres`]: a throw-away PostgreSQL cluster (`initdb` + `pg_ctl`) on a free port.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::errors::Error;
use crate::process;

/// A PostgreSQL 15 cluster in a temp dir, listening on 127.0.0.1 with `trust` authentication
/// for the superuser `postgres`. As root, it runs as the `postgres` user (`runuser`), since
/// `initdb` refuses root. Stopped (`pg_ctl stop -m immediate`) and deleted when dropped.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    run_as_postgres_user: bool,
    dir: TempDir,
}

impl Postgres {
    /// Creates and starts the cluster; returns once it accepts connections.
    ///
    /// The server binaries come from `$CHORALE_PG_BIN`, else `/usr/lib/postgresql/15/bin`.
    pub fn start() -> Result<Self, Error> {
        let bin = std::env::var_os("CHORALE_PG_BIN").map_or_else(
            || PathBuf::from("/usr/lib/postgresql/15/bin"),
            PathBuf::from,
        );
        for program in ["initdb", "pg_ctl", "psql"] {
            process::require(
                &bin.join(program).display().to_string(),
                "PostgreSQL 15 server programs (Debian package postgresql)",
            )?;
        }
        let run_as_postgres_user =
            std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        let dir = tempfile::Builder::new()
            .prefix("chorale-postgres-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        if run_as_postgres_user {
            process::require("runuser", "to run PostgreSQL as the postgres user")?;
            let id = |flag: &str| -> Result<u32, Error> {
                let output = process::run(Command::new("id").args([flag, "postgres"]))?;
                output.trim().parse().map_err(|_| Error::UnexpectedOutput {
                    command: format!("id {flag} postgres"),
                    output,
                })
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")?), Some(id("-g")?))
                .map_err(|source| Error::io("handing to the postgres user", dir.path(), source))?;
        }
        let mut postgres = Self {
            port: 0,
            bin,
            run_as_postgres_user,
            dir,
        };
        process::run(
            postgres
                .command("initdb")
                .arg("--pgdata")
                .arg(postgres.data_dir())
                .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
                .args(["--locale=C", "--no-sync", "--no-instructions"]),
        )?;
        std::fs::create_dir_all(postgres.socket_dir())
            .map_err(|source| Error::io("creating", postgres.socket_dir(), source))?;
        if run_as_postgres_user {
            process::run(
                Command::new("chown")
                    .arg("postgres:")
                    .arg(postgres.socket_dir()),
            )?;
        }
        process::start_on_free_port(|port| {
            postgres.port = port;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                postgres.socket_dir().display()
            );
            let started = process::run(
                postgres
                    .command("pg_ctl")
                    .arg("--pgdata")
                    .arg(postgres.data_dir())
                    .arg("--log")
                    .arg(postgres.log())
                    .args(["--wait", "--timeout=30", "-o", &options, "start"]),
            );
            started.map_err(|error| Error::UnexpectedOutput {
                command: format!("pg_ctl start on port {port}"),
                output: format!("{error}\n{}", process::log_tail(&postgres.log())),
            })
        })?;
        Ok(postgres)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The server log.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (letters, digits and `_`) and returns its URL, so that each
    /// test can work in a database of its own.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        self.psql(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))?;
        Ok(self.database_url(name))
    }

    /// Runs SQL with `psql` as `postgres` and returns what it printed (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> Result<String, Error> {
        process::run(
            Command::new(self.bin.join("psql"))
                .args(["--no-psqlrc", "--tuples-only", "--no-align"])
                .args([
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--host=127.0.0.1",
                    "--username=postgres",
                ])
                .arg(format!("--port={}", self.port))
                .args(["--dbname=postgres", "--command", sql]),
        )
    }

    /// The directory holding the cluster (deleted on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = process::run(
            self.command("pg_ctl")
                .arg("--pgdata")
                .arg(self.data_dir())
                .args(["--mode=immediate", "--wait", "stop"]),
        );
    }
}
