//! A PostgreSQL cluster of a test's own, on its own loopback port, that the test may restart,
//! stop and start again (database-outage tests must never touch the machine's server).
//!
//! The cluster is created with `initdb` in a fresh directory (trust authentication, user
//! `postgres`) and run with `pg_ctl`; as root, both run as the `postgres` user, as
//! `scripts/lib/postgres.sh` does. Dropping the value stops the server and removes the files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running private cluster.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    max_connections: u32,
}

/// The directory holding `initdb` and `pg_ctl`: `$PATH` first, then the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found (initdb, pg_ctl)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no /usr/lib/postgresql/<version>/bin with initdb and pg_ctl")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivatePostgres {
    /// Creates a cluster in a new directory and starts it on a free loopback port.
    pub fn start() -> anyhow::Result<PrivatePostgres> {
        PrivatePostgres::start_with_max_connections(100)
    }

    /// [`PrivatePostgres::start`] with the server's `max_connections` (3 of them reserved for
    /// superusers).
    pub fn start_with_max_connections(max_connections: u32) -> anyhow::Result<PrivatePostgres> {
        let bin = find_bin()?;
        let as_postgres = is_root();
        // /var/tmp: the `postgres` user can reach it, whoever runs the test.
        let data = PathBuf::from(format!(
            "/var/tmp/brokkr-test-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&data)?;
        let pg = PrivatePostgres {
            bin,
            data,
            port: crate::harness::free_port()?,
            as_postgres,
            max_connections,
        };
        if as_postgres {
            pg.run(Command::new("chown").arg("postgres:").arg(&pg.data))?;
        }
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(&pg.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "-N",
        ]);
        pg.run(&mut initdb)?;
        pg.start_server()?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the server logs.
    pub fn log_path(&self) -> PathBuf {
        self.data.join("server.log")
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections={} -c fsync=off",
            self.port, self.max_connections
        );
        let mut start = self.pg_ctl();
        start
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        self.run(&mut start)
    }

    /// `pg_ctl restart -m fast`: every session is ended, the server is back when this returns.
    pub fn restart_fast(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut restart = self.pg_ctl();
        // `-l` again: without it the new server writes to pg_ctl's output, a pipe that would
        // then never close.
        restart
            .arg("-l")
            .arg(self.log_path())
            .args(["-m", "fast", "-w", "-t", "60", "restart"]);
        self.run(&mut restart)?;
        Ok(started.elapsed())
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop_server(&self) -> anyhow::Result<()> {
        let mut stop = self.pg_ctl();
        stop.args(["-m", "fast", "-w", "-t", "60", "stop"]);
        self.run(&mut stop)
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.data);
        command
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let output = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        if !output.status.success() {
            bail!(
                "{command:?} failed ({}): {}{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                crate::harness::tail(
                    &std::fs::read_to_string(self.log_path()).unwrap_or_default(),
                    20
                ),
            );
        }
        Ok(())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut stop = self.pg_ctl();
        let _ = stop.args(["-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
