//! The metrics port over real TCP: `/metrics` moves by exactly the traffic
//! sent, in a well-formed exposition; `/healthz`, `/readyz` and unknown
//! paths answer as documented.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{BinaryServer, Client, TestServer, eventually, http_get};

/// Samples of one scrape, keyed by series (`name{labels}` as written).
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn take(addr: SocketAddr) -> Scrape {
        let (status, body) = http_get(addr, "/metrics").expect("scrape /metrics");
        assert_eq!(status, 200, "{body}");
        Scrape::parse(&body)
    }

    /// Parses the text format strictly: every sample belongs to the family
    /// of the `# TYPE` line before it, names are valid and `capkv_`
    /// prefixed, counters end in `_total`, no series appears twice.
    fn parse(text: &str) -> Scrape {
        let valid_name = |n: &str| {
            n.starts_with("capkv_") && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let mut samples = HashMap::new();
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(valid_name(name), "bad family name {name:?}");
                assert!(["counter", "gauge"].contains(&kind), "unexpected type in {line:?}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line:?}");
                family = name.to_string();
            } else if line.starts_with("# HELP ") {
                continue;
            } else {
                let (series, value) = line.rsplit_once(' ').expect("series value");
                let name = series.split('{').next().unwrap();
                assert!(valid_name(name) && name.starts_with(&family), "{line:?} after {family:?}");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line:?}"));
                assert!(samples.insert(series.to_string(), value).is_none(), "duplicate {line:?}");
            }
        }
        Scrape(samples)
    }

    fn get(&self, series: &str) -> f64 {
        *self.0.get(series).unwrap_or_else(|| panic!("no {series} in the scrape"))
    }

    fn command(&self, command: &str, result: &str) -> f64 {
        self.get(&format!("capkv_commands_total{{command=\"{command}\",result=\"{result}\"}}"))
    }
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let server = TestServer::start_with_metrics(&[]);
    let metrics = server.metrics.unwrap();
    let before = Scrape::take(metrics);

    let mut client = server.connect();
    let (mut sent, mut received) = (0, 0);
    let mut ask = |client: &mut Client, request: String, expect: &str| {
        let reply = client.ask(request.as_bytes());
        assert_eq!(String::from_utf8_lossy(&reply), expect, "reply to {request:?}");
        sent += request.len();
        received += reply.len();
    };
    for i in 0..7 {
        ask(&mut client, format!("PUT key{i} value {i}\n"), "OK\n");
    }
    for i in 0..5 {
        ask(&mut client, format!("GET key{i}\n"), &format!("value {i}\n"));
    }
    for i in 0..3 {
        ask(&mut client, format!("GET missing{i}\n"), "NOTFOUND\n");
    }
    for i in 0..2 {
        ask(&mut client, format!("DEL key{i}\n"), "OK\n");
    }
    ask(&mut client, "FROB\n".to_string(), "ERROR unknown command\n");
    drop(client);

    // A connection adds its counters to the shared ones after each batch
    // and when it closes; once it is gone, everything is in.
    let settled = eventually(Duration::from_secs(10), || {
        Scrape::take(metrics).get("capkv_connections_current") == 0.0
    });
    assert!(settled, "the client connection never closed");
    let after = Scrape::take(metrics);
    let delta = |series: &str| after.get(series) - before.get(series);

    let expected =
        [("set", "ok", 7.0), ("get", "ok", 8.0), ("del", "ok", 2.0), ("invalid", "error", 1.0)];
    for (series, value) in &after.0 {
        if !series.starts_with("capkv_commands_total{") {
            continue;
        }
        let want = expected
            .iter()
            .find(|(c, r, _)| series.contains(&format!("command=\"{c}\",result=\"{r}\"")))
            .map_or(0.0, |e| e.2);
        assert_eq!(value - before.get(series), want, "{series}");
    }
    assert_eq!(after.command("get", "ok"), 8.0, "GET is its own series");
    assert_eq!(delta("capkv_keyspace_hits_total"), 5.0);
    assert_eq!(delta("capkv_keyspace_misses_total"), 3.0);
    assert_eq!(delta("capkv_connections_total"), 1.0);
    assert_eq!(delta("capkv_connections_rejected_total"), 0.0);
    assert_eq!(delta("capkv_clients_evicted_total"), 0.0);
    assert_eq!(delta("capkv_net_input_bytes_total"), sent as f64);
    assert_eq!(delta("capkv_net_output_bytes_total"), received as f64);
    assert_eq!(delta("capkv_rejected_writes_total"), 0.0);
    assert_eq!(delta("capkv_evicted_keys_total"), 0.0);
    assert_eq!(after.get("capkv_items"), 5.0);
    assert_eq!(after.get("capkv_memory_budget_bytes"), (256u64 << 20) as f64);
    assert!(after.get("capkv_item_bytes") > 0.0);
    assert!(after.get("capkv_index_bytes") > 0.0);
    assert!(after.get("capkv_segment_bytes") >= (1u64 << 20) as f64);
    let quota = after.get("capkv_segment_quota_bytes");
    assert!(quota > 0.0 && quota <= (256u64 << 20) as f64, "quota {quota}");
    // The test harness reports no container: no limit, no cgroup usage.
    assert!(!after.0.contains_key("capkv_memory_limit_bytes"));
    assert!(!after.0.contains_key("capkv_cgroup_usage_bytes"));
}

#[test]
fn health_readiness_and_unknown_paths() {
    let server = TestServer::start_with_metrics(&[]);
    let metrics = server.metrics.unwrap();
    assert_eq!(http_get(metrics, "/healthz"), Some((200, "ok\n".into())));
    // Ready once the accept loop runs, a moment after start_with_metrics
    // returns; before that, 503 "starting".
    let ready = || http_get(metrics, "/readyz") == Some((200, "ready\n".into()));
    assert!(eventually(Duration::from_secs(10), ready), "never ready");
    assert_eq!(http_get(metrics, "/readyz?verbose=1"), Some((200, "ready\n".into())));
    assert_eq!(http_get(metrics, "/nope"), Some((404, "not found\n".into())));
    assert_eq!(http_get(metrics, "/metrics/"), Some((404, "not found\n".into())));

    // Headers, HEAD and a method the port does not serve, byte for byte.
    let raw = |request: &str| {
        let mut stream = TcpStream::connect(metrics).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let head = raw("HEAD /metrics HTTP/1.1\r\nHost: capkv\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(head.ends_with("\r\nConnection: close\r\n\r\n"), "HEAD has no body: {head}");
    let post = raw("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{post}");
    assert!(post.contains("\r\nAllow: GET, HEAD\r\n"));
    assert!(raw("garbage\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn the_binary_reports_its_memory() {
    let server = BinaryServer::start_with_metrics(&["--max-memory", "64mb"]);
    let metrics = server.metrics.unwrap();
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains(&format!("metrics=http://{metrics}/metrics")), "{log}");
    // Ready once the accept loop runs, a moment after the start-up log line.
    let ready = || http_get(metrics, "/readyz") == Some((200, "ready\n".into()));
    assert!(eventually(Duration::from_secs(10), ready), "never ready");
    let scrape = Scrape::take(metrics);
    assert_eq!(scrape.get("capkv_memory_budget_bytes"), (64u64 << 20) as f64);
    // jemalloc is the binary's allocator and the governor has measured.
    assert!(scrape.get("capkv_jemalloc_allocated_bytes") > 0.0);
    assert!(scrape.get("capkv_jemalloc_resident_bytes") > 0.0);
    let rss = scrape.get("capkv_process_resident_memory_bytes");
    assert!(rss > 0.0);
    assert!(scrape.get("capkv_memory_measured_bytes") >= rss);
    // On a host with a container limit, the limit is there and holds the budget.
    if let Some(limit) = scrape.0.get("capkv_memory_limit_bytes") {
        assert!(*limit >= (64u64 << 20) as f64);
        assert!(scrape.0.contains_key("capkv_cgroup_usage_bytes"));
    }
}
