//! capkv-bench against the real capkv binary, every scenario scaled down
//! to 16 MiB: the driver must run each one to the end, over both of capkv's
//! protocols, and find no wrong value.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The capkv server binary. Cargo hands an integration test the binaries
/// of its own package only (`CARGO_BIN_EXE_*`), and the server is the
/// `capkv` package's, so it is built here: `cargo build -p capkv` into this
/// test's target directory, with this test's profile. That is a no-op after
/// a `cargo test` at the root (the server's own tests need the binary), and
/// it never leaves a stale server behind `cargo test -p capkv-bench`.
/// `CAPKV_BIN` names a binary to use instead.
fn capkv_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(bin) = std::env::var_os("CAPKV_BIN") {
            return bin.into();
        }
        // <target dir>/<profile dir>/capkv-bench
        let profile_dir = Path::new(env!("CARGO_BIN_EXE_capkv-bench")).parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("no profile directory above {}", profile_dir.display()),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "capkv", "--bin", "capkv", "--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p capkv --bin capkv failed: {status}");
        profile_dir.join(format!("capkv{}", std::env::consts::EXE_SUFFIX))
    })
}

/// The capkv binary on a loopback port of its own choosing (`--port 0`),
/// its address read from the start-up log; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(capkv_binary())
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--metrics-port",
                "0",
                "--redis-port",
                "0",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn capkv");
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        // Keeps draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
                if let Some(at) = line.find("listening on ") {
                    let addr = line[at + 13..].split_whitespace().next().unwrap_or("");
                    let _ = addr_tx.send(Ok(addr.to_string()));
                }
            }
            let _ = addr_tx.send(Err(log));
        });
        match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(addr)) => Server { child, addr: addr.parse().expect("address in the log") },
            failed => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("capkv did not start: {failed:?}");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(server: &Server, wire: &str, scenarios: &[&str]) -> Vec<String> {
    bench_with(server, wire, scenarios, &[])
}

fn bench_with(server: &Server, wire: &str, scenarios: &[&str], extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_capkv-bench"))
        .args(scenarios)
        .args(extra)
        .args([
            "--quiet",
            "--limit",
            "16mb",
            "--wire",
            wire,
            "--samples",
            "2000",
            "--io-timeout",
            "20s",
        ])
        .args(["--churn-keys", "20000", "--flood-connections", "50", "--flood-readers", "5"])
        .args(["--host", &server.addr.ip().to_string(), "--port", &server.addr.port().to_string()])
        .output()
        .expect("capkv-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "capkv-bench failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let at = line.find(&format!("\"{name}\":")).unwrap_or_else(|| panic!("no {name} in {line}"));
    let rest = &line[at + name.len() + 3..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn every_scenario_runs_clean_over_resp() {
    let server = Server::start(&["--max-memory", "48mb"]);
    let lines = bench(&server, "resp", &["all"]);
    assert_eq!(lines.len(), 6, "{lines:?}");
    for line in &lines {
        assert_eq!(field(line, "wrong_values"), "0", "{line}");
        assert_eq!(field(line, "server_reachable"), "true", "{line}");
        assert!(!line.contains("protocol:"), "{line}");
        if !line.contains("\"scenario\":\"zipf\"") {
            // Something was kept and found again.
            let retained: f64 = field(line, "retained_fraction").parse().unwrap();
            assert!(retained > 0.1, "{line}");
        }
    }
    let zipf = lines.iter().find(|l| l.contains("\"scenario\":\"zipf\"")).unwrap();
    let hit: f64 = field(zipf, "hit_ratio").parse().unwrap();
    assert!(hit > 0.3, "{zipf}");
}

#[test]
fn the_scan_reads_every_scan_key_once_and_is_kept_out_of_the_hit_ratio() {
    let server = Server::start(&["--max-memory", "48mb"]);
    let lines = bench(&server, "resp", &["zipf-scan"]);
    let line = &lines[0];
    assert_eq!(field(line, "wrong_values"), "0", "{line}");
    let scan_keys: u64 = field(line, "scan_keys").parse().unwrap();
    let keys: u64 = field(line, "keys").parse().unwrap();
    assert_eq!(scan_keys, 2 * keys, "10x what fits against 5x: {line}");
    assert_eq!(field(line, "scan_reads"), scan_keys.to_string(), "{line}");
    // The measured GETs are the Zipf reads alone (90% of the operations).
    let gets: f64 = field(line, "measured_gets").parse().unwrap();
    assert!((0.85..0.95).contains(&(gets / keys as f64)), "{line}");
    let hit: f64 = field(line, "hit_ratio").parse().unwrap();
    assert!(hit > 0.3, "{line}");
}

#[test]
fn line_protocol_fill_and_churn() {
    let server = Server::start(&["--max-memory", "48mb"]);
    for line in bench(&server, "line", &["small", "churn"]) {
        assert_eq!(field(&line, "wrong_values"), "0", "{line}");
        // The server may refuse writes; the client must never lose framing.
        assert!(!line.contains("protocol:"), "{line}");
    }
}

fn int(line: &str, name: &str) -> u64 {
    let v = field(line, name);
    v.parse().unwrap_or_else(|_| panic!("{name} is {v:?}, not a count, in {line}"))
}

/// Every scenario's line has a probe whose counts add up; only structure
/// is checked, never timing.
fn probe_adds_up(line: &str) {
    let at = line.find("\"probe\":{").unwrap_or_else(|| panic!("no probe in {line}"));
    let probe = &line[at..];
    for f in ["p50_ms", "p99_ms", "max_ms"] {
        let v = field(probe, f);
        assert!(v == "null" || v.parse::<f64>().is_ok(), "{f} = {v} in {probe}");
    }
    let (count, answered, unanswered) =
        (int(probe, "count"), int(probe, "answered"), int(probe, "unanswered"));
    assert_eq!(count, answered + unanswered, "{probe}");
    assert_eq!(unanswered, int(probe, "timed_out") + int(probe, "failed"), "{probe}");
    assert_eq!(int(probe, "wrong"), 0, "{probe}");
}

#[test]
fn connection_scenarios_at_tiny_scale() {
    let server = Server::start(&["--max-memory", "48mb"]);
    let tiny = [
        "--slowloris-connections",
        "40",
        "--slowloris-value",
        "16kb",
        "--slowloris-hold",
        "1s",
        "--idle-connections",
        "100",
    ];
    let mut lines = bench_with(&server, "resp", &["small", "slowloris", "idle"], &tiny);
    drop(server);
    let server = Server::start(&["--max-memory", "48mb"]);
    lines.extend(bench_with(&server, "line", &["slowloris"], &tiny));
    assert_eq!(lines.len(), 4, "{lines:?}");
    for line in &lines {
        assert_eq!(field(line, "wrong_values"), "0", "{line}");
        assert!(!line.contains("protocol:"), "{line}");
        probe_adds_up(line);
        field(line, "retained_fraction");
    }
    for slow in lines.iter().filter(|l| l.contains("\"scenario\":\"slowloris\"")) {
        let attackers = int(slow, "attackers");
        assert_eq!(attackers, 40, "{slow}");
        assert_eq!(attackers, int(slow, "accepted") + int(slow, "refused"), "{slow}");
        assert_eq!(
            int(slow, "accepted"),
            int(slow, "evicted") + int(slow, "held_to_end"),
            "{slow}"
        );
        assert_eq!(int(slow, "value_size"), 16 * 1024, "{slow}");
        assert!(int(slow, "partial_bytes") < 16 * 1024, "{slow}");
        for f in ["retained_before_fraction", "server_evicted_clients", "attacker_outcomes"] {
            field(slow, f);
        }
    }
    let idle = lines.iter().find(|l| l.contains("\"scenario\":\"idle\"")).unwrap();
    let conns = int(idle, "idle_connections");
    assert_eq!(conns, 100, "{idle}");
    assert_eq!(conns, int(idle, "idle_connected") + int(idle, "idle_failed"), "{idle}");
    assert_eq!(
        int(idle, "idle_connected"),
        int(idle, "idle_closed_by_server") + int(idle, "idle_held_to_end"),
        "{idle}"
    );
    assert!(int(idle, "idle_answered") <= int(idle, "idle_connected"), "{idle}");
    // The bench learns the server's pid from INFO, so the RSS is read.
    int(idle, "rss_before");
    int(idle, "rss_after");
    field(idle, "bytes_per_connection_rss").parse::<f64>().expect("a number");
    for f in ["bytes_per_connection_cgroup", "retained_before_fraction", "items_after"] {
        field(idle, f);
    }
}
