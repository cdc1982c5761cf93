//! capkv-bench against the real capkv binary, every scenario scaled down
//! to 16 MiB: the driver must run each one to the end, over both of capkv's
//! protocols, and find no wrong value.

mod common;

use std::process::Command;

use common::BinaryServer;

fn bench(server: &BinaryServer, wire: &str, scenarios: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_capkv-bench"))
        .args(scenarios)
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
    let server = BinaryServer::start(&["--max-memory", "48mb"]);
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
fn line_protocol_fill_and_churn() {
    let server = BinaryServer::start(&["--max-memory", "48mb"]);
    for line in bench(&server, "line", &["small", "churn"]) {
        assert_eq!(field(&line, "wrong_values"), "0", "{line}");
        // The server may refuse writes; the client must never lose framing.
        assert!(!line.contains("protocol:"), "{line}");
    }
}
