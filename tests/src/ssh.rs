//! Real OpenSSH clients and a real `sshd` against an SSH agent socket:
//! `ssh-add`, `ssh-keygen -Y sign` / `-Y verify`, and `ssh … true` logging
//! in to a throwaway `sshd` on 127.0.0.1. Shared by the daemon's in-process
//! agent tests (`daemon/tests/ssh_agent.rs`) and the black-box tests
//! against a real `cofferd` (`tests/tests/ssh_agent.rs`).
//!
//! Every client runs with a clean environment (`PATH`, a scratch `HOME`,
//! `SSH_AUTH_SOCK`) and a hard timeout ([`CLIENT_TIMEOUT`]).
//!
//! [`Sshd`] runs the server as the current user with a throwaway host key
//! and configuration (`StrictModes no`, `UsePAM no`, an
//! `AuthorizedKeysFile` in a temporary directory). As root, `sshd` also
//! needs its privilege-separation directory `/run/sshd`; it is created
//! (0755) when missing, as the Debian service does at start.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::run_with_input;

/// The longest any one client run may take before it is killed and the
/// test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `sshd` is on Debian (it is not on a user's PATH).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Runs `cmd` with `stdin` as its input; panics (naming the command) when
/// it does not finish within [`CLIENT_TIMEOUT`].
pub fn run(cmd: Command, stdin: &[u8]) -> Output {
    run_with_input(cmd, stdin, CLIENT_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Bytes as text, for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The current user's login name (what `ssh -l` needs).
pub fn user_name() -> String {
    let mut id = Command::new("id");
    id.arg("-un");
    text(&run(id, b"").stdout).trim().to_owned()
}

/// OpenSSH clients pointed at one agent socket, with a scratch directory
/// for the files they read and write.
pub struct AgentClient {
    /// The agent's socket.
    pub sock: PathBuf,
    /// The scratch directory (also the clients' HOME).
    pub dir: PathBuf,
}

impl AgentClient {
    /// Clients of the agent at `sock`, using `dir` (which must exist).
    pub fn new(sock: &Path, dir: &Path) -> AgentClient {
        AgentClient {
            sock: sock.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }

    /// A file in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `tool` with a clean environment pointing at the agent.
    pub fn command(&self, tool: &Path) -> Command {
        let mut cmd = Command::new(tool);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("SSH_AUTH_SOCK", &self.sock);
        cmd
    }

    /// `ssh-add ARGS` (with `ssh_add` the tool's path).
    pub fn ssh_add(&self, ssh_add: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(ssh_add);
        cmd.args(args);
        run(cmd, b"")
    }

    /// Signs `data` with `ssh-keygen -Y sign` through the agent, the key
    /// named by `public_line`; the signature file's text, or stderr.
    pub fn y_sign(&self, keygen: &Path, public_line: &str, data: &[u8]) -> Result<String, String> {
        let pubfile = self.path("signing.pub");
        std::fs::write(&pubfile, format!("{public_line}\n")).expect("write the public key");
        let datafile = self.path("data");
        std::fs::write(&datafile, data).expect("write the data");
        let sigfile = self.path("data.sig");
        let _ = std::fs::remove_file(&sigfile);
        let mut cmd = self.command(keygen);
        cmd.args(["-Y", "sign", "-n", "file", "-f"])
            .arg(&pubfile)
            .arg(&datafile);
        let out = run(cmd, b"");
        if out.status.success() {
            Ok(std::fs::read_to_string(&sigfile).expect("ssh-keygen wrote the signature"))
        } else {
            Err(text(&out.stderr))
        }
    }

    /// Verifies `sig` over `data` with `ssh-keygen -Y verify` against an
    /// allowed_signers file holding `public_line`.
    pub fn y_verify(&self, keygen: &Path, public_line: &str, data: &[u8], sig: &str) -> bool {
        let allowed = self.path("allowed_signers");
        std::fs::write(
            &allowed,
            format!("alice@example.org namespaces=\"file\" {public_line}\n"),
        )
        .expect("write allowed_signers");
        let sigfile = self.path("verify.sig");
        std::fs::write(&sigfile, sig).expect("write the signature");
        let mut cmd = self.command(keygen);
        cmd.args([
            "-Y",
            "verify",
            "-n",
            "file",
            "-I",
            "alice@example.org",
            "-f",
        ])
        .arg(&allowed)
        .arg("-s")
        .arg(&sigfile);
        run(cmd, data).status.success()
    }

    /// `ssh … 127.0.0.1 true` to `sshd` offering only the key
    /// `public_line` (served by the agent: `IdentitiesOnly` with the public
    /// key as `IdentityFile`) and, when given, only the signature
    /// algorithms `algorithms`.
    pub fn ssh_true(
        &self,
        ssh: &Path,
        sshd: &Sshd,
        public_line: &str,
        algorithms: Option<&str>,
    ) -> Output {
        let pubfile = self.path("login.pub");
        std::fs::write(&pubfile, format!("{public_line}\n")).expect("write the public key");
        let mut cmd = self.command(ssh);
        cmd.arg("-F")
            .arg("/dev/null")
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
            .arg("-o")
            .arg(format!("IdentityAgent={}", self.sock.display()))
            .arg("-o")
            .arg(format!("IdentityFile={}", pubfile.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=publickey",
                "-o",
                "ConnectTimeout=20",
                "-o",
                "LogLevel=ERROR",
            ]);
        if let Some(a) = algorithms {
            cmd.arg("-o").arg(format!("PubkeyAcceptedAlgorithms={a}"));
        }
        cmd.arg("-p")
            .arg(sshd.port.to_string())
            .arg("-l")
            .arg(user_name())
            .arg("127.0.0.1")
            .arg("true");
        run(cmd, b"")
    }
}

/// Makes a key with `ssh-keygen` at `dir/name` (comment `name`, extra
/// `args` such as `-t ed25519 -N ''`); returns the file and its text.
pub fn keygen_file(keygen: &Path, dir: &Path, name: &str, args: &[&str]) -> (PathBuf, String) {
    let file = dir.join(name);
    let mut cmd = Command::new(keygen);
    cmd.args(["-q", "-C", name, "-f"]).arg(&file).args(args);
    let out = run(cmd, b"");
    assert!(out.status.success(), "ssh-keygen: {}", text(&out.stderr));
    let body = std::fs::read_to_string(&file).expect("ssh-keygen wrote the key");
    (file, body)
}

/// The SHA256 fingerprint `ssh-keygen -l` gives a public key line.
pub fn fingerprint_of(keygen: &Path, dir: &Path, public_line: &str) -> String {
    let file = dir.join("fingerprint-of.pub");
    std::fs::write(&file, format!("{public_line}\n")).expect("write the public key");
    let mut cmd = Command::new(keygen);
    cmd.arg("-l").arg("-f").arg(&file);
    let out = run(cmd, b"");
    assert!(out.status.success(), "ssh-keygen -l: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -l prints BITS FINGERPRINT COMMENT (TYPE)")
        .to_owned()
}

/// A throwaway `sshd` on 127.0.0.1 that accepts the keys in its
/// authorized_keys file; killed on drop.
pub struct Sshd {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    /// Its log (sshd -e writes to stderr, kept here).
    pub log: PathBuf,
}

impl Sshd {
    /// Starts `sshd` (the binary `sshd`, host key made with `keygen`) with
    /// its files in `dir`, accepting `authorized` public key lines.
    pub fn start(sshd: &Path, keygen: &Path, dir: &Path, authorized: &[&str]) -> Sshd {
        if is_root() && !Path::new("/run/sshd").is_dir() {
            std::fs::create_dir_all("/run/sshd")
                .expect("create /run/sshd for sshd's privilege separation");
            std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755))
                .expect("chmod /run/sshd");
        }
        let host_key = dir.join("host_ed25519");
        if !host_key.exists() {
            let mut cmd = Command::new(keygen);
            cmd.args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&host_key);
            assert!(run(cmd, b"").status.success(), "make sshd's host key");
        }
        let auth = dir.join("authorized_keys");
        std::fs::write(&auth, authorized.join("\n") + "\n").expect("write authorized_keys");
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port on 127.0.0.1")
                .port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                     StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nPidFile none\n\
                     LogLevel VERBOSE\nMaxStartups 30\n",
                    host_key.display(),
                    auth.display()
                ),
            )
            .expect("write sshd_config");
            let log = dir.join(format!("sshd-{port}.log"));
            let child = Command::new(sshd)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("create sshd's log"))
                .spawn()
                .expect("start sshd");
            let mut s = Sshd { child, port, log };
            if s.wait_ready() {
                return s;
            }
            last = std::fs::read_to_string(&s.log).unwrap_or_default();
            if !last.contains("Address already in use") {
                panic!("sshd did not start:\n{last}");
            }
        }
        panic!("sshd could not get a free port:\n{last}");
    }

    /// What sshd logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until sshd sends its banner; false if it exited.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut banner = [0u8; 4];
                if c.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("sshd did not answer within 30 s");
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
