//! What a new operator meets first, over real TCP and the real binary:
//! INFO commandstats' time per command, the eviction policy INFO and
//! CONFIG GET report, and start-up failures that are one line naming the
//! flag (a taken metrics port, a bad `CAPKV_*` value, a bad log level).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{BinaryServer, TestServer};

/// `name:value` fields of an INFO reply.
fn fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// `key=value` pairs of one `cmdstat_*` line.
fn cmdstat(info: &str, command: &str) -> Vec<(String, String)> {
    let name = format!("cmdstat_{command}");
    let (_, value) = fields(info)
        .into_iter()
        .find(|(k, _)| *k == name)
        .unwrap_or_else(|| panic!("no {name} in {info}"));
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    &pairs.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} in {pairs:?}")).1
}

#[test]
fn commandstats_measure_time_per_command() {
    let server = TestServer::start(&[]);
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10)).unwrap();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("key{i}")).arg("value").ignore();
        pipe.cmd("GET").arg(format!("key{i}")).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut con).unwrap();
    for command in ["set", "get"] {
        let stats = cmdstat(&info, command);
        assert_eq!(get(&stats, "calls"), "2000", "{info}");
        let usec: u64 = get(&stats, "usec").parse().unwrap();
        let per_call: f64 = get(&stats, "usec_per_call").parse().unwrap();
        assert!(usec > 0, "{command}: {info}");
        assert!(per_call > 0.0, "{command}: {info}");
        // usec_per_call is usec / calls, to Redis's two decimals.
        let expected = usec as f64 / 2000.0;
        assert!((per_call - expected).abs() <= 0.01 + expected * 0.001, "{per_call} {expected}");
        // Generous: a SET or GET of five bytes takes well under a
        // millisecond even on a loaded debug build.
        assert!(per_call < 1000.0, "{command}: {info}");
    }
}

#[test]
fn maxmemory_policy_says_what_capkv_does() {
    let server = TestServer::start(&[]);
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10)).unwrap();
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    let memory = fields(&info);
    assert_eq!(get(&memory, "maxmemory_policy"), "segment-cost-benefit", "{info}");
    let config: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query(&mut con).unwrap();
    assert_eq!(config, ["maxmemory-policy", "segment-cost-benefit"]);
    // redis-rs's own INFO parser takes the unknown value as a string.
    let dict: redis::InfoDict = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    assert_eq!(dict.get::<String>("maxmemory_policy").as_deref(), Some("segment-cost-benefit"));
}

/// Runs the binary to completion (it is expected to refuse to start).
fn refused(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_capkv"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run capkv")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_taken_metrics_port_is_one_line_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = refused(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--metrics-port",
            &port,
            "--redis-port",
            "0",
            "--max-memory",
            "64mb",
        ],
        &[],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(text.lines().filter(|l| l.contains("already in use")).count(), 1, "{text}");
    assert!(
        last.starts_with(&format!(
            "capkv: --metrics-port {port}: 127.0.0.1:{port} is already in use"
        )),
        "{text}"
    );
    assert!(last.contains("CAPKV_METRICS_PORT") && last.contains("0 to disable"), "{text}");
    drop(taken);
}

#[test]
fn a_bad_environment_value_names_flag_and_variable() {
    // What Kubernetes injects for a Service named capkv when service links
    // are on.
    let output = refused(&[], &[("CAPKV_PORT", "tcp://10.96.0.12:7171")]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("capkv: invalid value 'tcp://10.96.0.12:7171' for --port (CAPKV_PORT)")
    );
    let output = refused(&["--metrics-port", "0"], &[("CAPKV_MAX_MEMORY", "2Pi")]);
    let text = stderr(&output);
    assert!(text.contains("--max-memory (CAPKV_MAX_MEMORY)"), "{text}");
}

#[test]
fn a_garbage_log_level_is_refused() {
    let output = refused(&["--log-level", "garbage"], &[]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.starts_with("capkv: --log-level: 'garbage' is neither a level"), "{text}");
    let output = refused(&["--max-memory", "1tb"], &[]);
    let text = stderr(&output);
    assert!(text.starts_with("capkv: --max-memory: 1.0 TiB is above what the index"), "{text}");
}

#[test]
fn start_up_says_where_metrics_listen() {
    let server = BinaryServer::start_with_metrics(&["--max-memory", "64mb"]);
    let at = server.metrics.unwrap();
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains(&format!("metrics, /healthz and /readyz on http://{at}/")), "{log}");
    // Loopback: no warning about an open port.
    assert!(!log.contains("with no password"), "{log}");
}

#[test]
fn an_open_bind_without_password_warns_at_start_up() {
    // `--bind 0.0.0.0` with --port 0: reachable from other machines.
    let output = Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args([
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--redis-port",
            "0",
            "--max-memory",
            "64mb",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capkv");
    let mut child = output;
    let stderr = child.stderr.take().unwrap();
    let mut log = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("WARN") && log.contains("listening on 0.0.0.0 with no password"), "{log}");
}
