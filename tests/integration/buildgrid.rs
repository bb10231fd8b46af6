//! A real REAPI server for the remote-cache tests: BuildGrid, installed by
//! `.ci/buildgrid.sh` (into `~/.cache/orch-ci/buildgrid-0.4.4`, or where
//! `ORCH_TEST_BGD` points), started on a free loopback port with its CAS on disk, and
//! stopped by its process group's id.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    secured: bool,
    /// Whether its action cache takes results (`allow-updates`).
    takes_results: bool,
    /// Its scheduler's database (remote execution), in the PostgreSQL at `ORCH_TEST_PG`.
    database: Option<String>,
}

/// The files of a server that takes only TLS clients with a certificate of its CA and a
/// bearer token (a JWT signed with `jwt.secret`), and the client's side of them.
pub(crate) struct Secrets {
    pub(crate) ca: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) token: String,
}

fn bgd() -> PathBuf {
    let path = std::env::var_os("ORCH_TEST_BGD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/orch-ci/buildgrid-0.4.4/bin/bgd")
        });
    assert!(
        path.exists(),
        "BuildGrid is not installed at {}: run `bash .ci/buildgrid.sh` once (it installs \
         BuildGrid from PyPI into a virtual environment)",
        path.display()
    );
    path
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_as(false, true)
    }

    /// A server that also executes actions (Execution and Bots services), its
    /// scheduler's state in a database of its own in the PostgreSQL that `.ci/run`
    /// started (`ORCH_TEST_PG`, from `bash .ci/postgres.sh start`).
    pub(crate) fn start_executing() -> Server {
        let postgres = std::env::var("ORCH_TEST_PG").unwrap_or_else(|_| {
            panic!(
                "ORCH_TEST_PG is not set: start PostgreSQL with `export ORCH_TEST_PG=$(bash \
                 .ci/postgres.sh start)` (and `bash .ci/postgres.sh stop` afterwards)"
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("port").port();
        drop(listener);
        let name = format!("bgd_{port}_{}", std::process::id());
        let made = Command::new("psql")
            .arg(&postgres)
            .args(["-q", "-c", &format!("DROP DATABASE IF EXISTS {name}"), "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("psql");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let url = format!(
            "{}/{name}",
            postgres.replacen("postgresql://", "postgresql+psycopg2://", 1)
        );
        let migrated = Command::new(bgd())
            .args(["migrate", "apply", &url])
            .output()
            .expect("bgd migrate");
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let mut server = Server {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            secured: false,
            takes_results: true,
            database: Some(url),
        };
        server.write_config();
        server.launch();
        server
    }

    /// An `orch worker` serving this server's leases, stopped when dropped.
    pub(crate) fn worker(&self, id: &str) -> WorkerProcess {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("worker.log")).expect("log");
        let child = Command::new(assert_cmd::cargo::cargo_bin("orch"))
            .args(["worker", "--server", &self.url(), "--id", id, "--work-dir"])
            .arg(dir.path().join("leases"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("orch worker starts");
        WorkerProcess { child, dir }
    }

    /// A server whose action cache is read-only (it says so in its capabilities).
    pub(crate) fn start_refusing_results() -> Server {
        Server::start_as(false, false)
    }

    /// A server that wants TLS, a client certificate and a bearer token.
    pub(crate) fn start_secured() -> (Server, Secrets) {
        let server = Server::start_as(true, true);
        let dir = server.dir.path();
        let python = bgd().with_file_name("python");
        let token = Command::new(python)
            .args(["-c", "import jwt,sys,time; print(jwt.encode({'exp': int(time.time()) + 3600, 'sub': 'orch'}, open(sys.argv[1]).read(), algorithm='HS256'))"])
            .arg(dir.join("jwt.secret"))
            .output()
            .expect("a token");
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        let secrets = Secrets {
            ca: dir.join("ca.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            token: String::from_utf8_lossy(&token.stdout).trim().to_owned(),
        };
        (server, secrets)
    }

    fn start_as(secured: bool, takes_results: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("port").port();
        drop(listener);
        let mut server = Server {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            secured,
            takes_results,
            database: None,
        };
        if secured {
            server.make_certificates();
        }
        server.write_config();
        server.launch();
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps its blobs: `objects/ab/cdef…` by SHA-256.
    pub(crate) fn objects(&self) -> PathBuf {
        self.dir.path().join("cas/cas/objects")
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, by openssl.
    fn make_certificates(&self) {
        let dir = self.dir.path();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
        std::fs::write(
            dir.join("jwt.secret"),
            "a secret of the remote-cache tests, 32+ bytes",
        )
        .expect("secret");
        let steps: [&[&str]; 5] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=orch-test-ca",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                "/CN=orch-client",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "client.pem",
                "-days",
                "2",
                "-extfile",
                "client.ext",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn write_config(&self) {
        let dir = self.dir.path().display();
        let channel = if self.secured {
            format!(
                "    insecure-mode: false\n    credentials:\n      tls-server-key: {dir}/server.key\n      \
                 tls-server-cert: {dir}/server.pem\n      tls-client-certs: {dir}/ca.pem\n\
                 authorization:\n  method: jwt\n  secret: {dir}/jwt.secret\n  algorithm: hs256\n"
            )
        } else {
            "    insecure-mode: true\n".to_owned()
        };
        let storage = self.dir.path().join("cas").display().to_string();
        let (connections, schedulers, execution) = match &self.database {
            Some(url) => (
                format!(
                    "connections:\n  - !sql-connection &sql\n    connection-string: {url}\n    \
                     pool-size: 5\n    max-overflow: 10\n"
                ),
                "schedulers:\n  - !sql-scheduler &state\n    sql: *sql\n    \
                 action-cache: *main-action\n    storage: *main-storage\n    \
                 property-set: !dynamic-property-set\n      match-property-keys: [OSFamily, ISA]\n      \
                 wildcard-property-keys: []\n    bot-session-keepalive-timeout: 60\n"
                    .to_owned(),
                "      - !execution\n        scheduler: *state\n        \
                 operation-stream-keepalive-timeout: 5\n"
                    .to_owned(),
            ),
            None => Default::default(),
        };
        let config = format!(
            r#"server:
  - !channel
    address: "127.0.0.1:{port}"
{channel}{connections}storages:
  - !disk-storage &main-storage
    path: {storage}
caches:
  - !lru-action-cache &main-action
    storage: *main-storage
    max-cached-refs: 100000
    allow-updates: {takes_results}
    cache-failed-actions: false
{schedulers}instances:
  - name: ""
    services:
      - !action-cache
        cache: *main-action
{execution}      - !cas
        storage: *main-storage
      - !bytestream
        storage: *main-storage
"#,
            port = self.port,
            takes_results = self.takes_results,
        );
        std::fs::write(self.dir.path().join("config.yml"), config).expect("config");
    }

    fn launch(&mut self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(self.dir.path().join("bgd.log")).expect("log");
        let child = Command::new(bgd())
            .args(["server", "start"])
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("bgd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.path().join("bgd.log")).unwrap_or_default();
                panic!("BuildGrid did not start on port {}: {log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (its whole process group) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw);
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
        }
    }

    /// Stopped and started again on the same port, with the same storage.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

/// An `orch worker` process and its folder (its log at `worker.log`).
pub(crate) struct WorkerProcess {
    child: Child,
    pub(crate) dir: tempfile::TempDir,
}

impl WorkerProcess {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    /// Waits (up to `limit`) until its log says `text`.
    pub(crate) fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let group = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
