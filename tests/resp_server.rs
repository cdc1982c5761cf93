//! Connection and server commands over RESP2: PING, ECHO, SELECT, QUIT,
//! INFO, CONFIG GET, COMMAND, CLIENT, HELLO — what redis-cli,
//! redis-benchmark, redis-py, redis-rs and twemproxy send besides data.

mod common;
mod resp_support;

use std::time::Duration;

use redis::{InfoDict, Value};

use common::{BinaryServer, TestServer};
use resp_support::{ask_text, bulk, connect, is_capkv, raw, run, target};

#[test]
fn ping_and_echo() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
    assert_eq!(run(&mut con, &[b"ping", b"hello"]), Ok(bulk("hello")));
    assert_eq!(run(&mut con, &[b"ECHO", b"a\r\nb\0c"]), Ok(bulk("a\r\nb\0c")));
    assert_eq!(run(&mut con, &[b"ECHO", b""]), Ok(bulk("")));
    let arity = |c: &str| Err(format!("ERR wrong number of arguments for '{c}' command"));
    assert_eq!(run(&mut con, &[b"PING", b"a", b"b"]), arity("ping"));
    assert_eq!(run(&mut con, &[b"ECHO"]), arity("echo"));
    assert_eq!(run(&mut con, &[b"ECHO", b"a", b"b"]), arity("echo"));
    // Raw: the status line and the bulk string exactly.
    let mut c = raw(&server);
    assert_eq!(ask_text(&mut c, &["PING"]), "+PONG\r\n");
    assert_eq!(ask_text(&mut c, &["PING", "x y"]), "$3\r\nx y\r\n");
    assert_eq!(ask_text(&mut c, &["ECHO", "hi"]), "$2\r\nhi\r\n");
}

#[test]
fn select_zero_only() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"SELECT", b"0"]), Ok(Value::Okay));
    let not_int = Err("ERR value is not an integer or out of range".to_string());
    assert_eq!(run(&mut con, &[b"SELECT", b"abc"]), not_int);
    assert_eq!(
        run(&mut con, &[b"SELECT"]),
        Err("ERR wrong number of arguments for 'select' command".into())
    );
    // A URL naming database 0 makes the client send nothing extra.
    let url = format!("redis://{}/0", target(&server));
    let mut zero = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(run(&mut zero, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
    if !is_capkv(&server) {
        return;
    }
    // capkv has one database; Redis's text for an index it does not have.
    let out_of_range = Err("ERR DB index is out of range".to_string());
    for index in ["1", "15", "-1"] {
        assert_eq!(run(&mut con, &[b"SELECT", index.as_bytes()]), out_of_range, "{index}");
    }
    // So a client told to use database 1 fails to connect instead of
    // silently sharing database 0.
    let url = format!("redis://{}/1", server.addr);
    let error = redis::Client::open(url).unwrap().get_connection().err().expect("refused");
    assert!(error.to_string().contains("DB index is out of range"), "{error}");
    // The connection is still usable after the refusal.
    assert_eq!(run(&mut con, &[b"SELECT", b"0"]), Ok(Value::Okay));
}

#[test]
fn quit_answers_ok_and_closes() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let mut c = raw(&server);
    // Requests pipelined after QUIT are not executed.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nQUIT\r\n");
    c.send(b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\nv\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert!(c.closed(), "QUIT closes the connection");
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v")));
    assert_eq!(run(&mut con, &[b"EXISTS", b"after"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"quit"]), Ok(Value::Okay));
}

/// Splits an INFO reply into `(section, fields)` in order, checking the
/// framing Redis uses: `# Name` headers, `key:value` lines, CRLF, one
/// blank line between sections.
fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    assert!(text.is_empty() || text.ends_with("\r\n"), "INFO ends with CRLF");
    assert!(!text.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix("# ") {
            out.push((name.to_string(), Vec::new()));
        } else {
            let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("not key:value: {line}"));
            out.last_mut().expect("a section header first").1.push((k.into(), v.into()));
        }
    }
    out
}

fn info(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd("INFO");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap()
}

#[test]
fn info_sections_and_redis_field_names() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let all = sections(&info(&mut con, &[]));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["Server", "Clients", "Memory", "Stats", "Keyspace"] {
        assert!(names.contains(&wanted), "INFO lacks {wanted}: {names:?}");
    }
    assert!(!names.contains(&"Commandstats"), "not in INFO's default set");
    let field = |section: &str, key: &str| -> String {
        let (_, fields) = all.iter().find(|(n, _)| n == section).unwrap();
        let found = fields.iter().find(|(k, _)| k == key);
        found.unwrap_or_else(|| panic!("{section} lacks {key}")).1.clone()
    };
    assert!(field("Server", "redis_version").starts_with('7'));
    for key in ["process_id", "tcp_port", "uptime_in_seconds"] {
        field("Server", key).parse::<u64>().unwrap();
    }
    if is_capkv(&server) {
        // (tcp_port is the configured port: 0 here, where the test server
        // binds port 0.)
        assert_eq!(field("Memory", "maxmemory"), (256u64 << 20).to_string());
        assert_eq!(field("Memory", "maxmemory_human"), "256.00M");
    }
    assert!(field("Clients", "connected_clients").parse::<u64>().unwrap() >= 1);
    for key in ["used_memory", "used_memory_rss", "maxmemory"] {
        field("Memory", key).parse::<u64>().unwrap();
    }
    let human = field("Memory", "used_memory_human");
    assert!(human.ends_with(['B', 'K', 'M', 'G']), "{human}");
    field("Memory", "maxmemory_policy");
    for key in [
        "total_connections_received",
        "total_commands_processed",
        "keyspace_hits",
        "keyspace_misses",
        "expired_keys",
        "evicted_keys",
        "evicted_clients",
    ] {
        field("Stats", key).parse::<u64>().unwrap();
    }

    // One section, several, case-insensitive.
    let server_only = sections(&info(&mut con, &["server"]));
    assert_eq!(server_only.len(), 1);
    assert_eq!(server_only[0].0, "Server");
    let two = sections(&info(&mut con, &["MEMORY", "stats"]));
    assert_eq!(two.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["Memory", "Stats"]);
    assert!(sections(&info(&mut con, &["nosuchsection"])).is_empty());
}

#[test]
fn info_reports_the_port_bound_for_port_zero() {
    // The binary is started with `--port 0`; INFO shows the port it got.
    let server = BinaryServer::start(&[]);
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10)).unwrap();
    let text: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(text.contains(&format!("tcp_port:{}\r\n", server.addr.port())), "{text}");
}

#[test]
fn info_counts_keys_hits_clients_and_commands() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let _other = connect(&server);
    let dict = |con: &mut redis::Connection, section: &str| -> InfoDict {
        redis::cmd("INFO").arg(section).query(con).unwrap()
    };
    let num = |d: &InfoDict, key: &str| -> u64 { d.get(key).unwrap_or_else(|| panic!("{key}")) };
    assert!(num(&dict(&mut con, "clients"), "connected_clients") >= 2);
    // An empty keyspace has the header and no db line, as in Redis.
    assert_eq!(info(&mut con, &["keyspace"]), "# Keyspace\r\n");

    let before = dict(&mut con, "stats");
    let pairs: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), i.to_string())).collect();
    let () = redis::Commands::mset(&mut con, &pairs).unwrap();
    assert_eq!(run(&mut con, &[b"GET", b"k1"]), Ok(bulk("1")));
    assert_eq!(run(&mut con, &[b"GET", b"k2"]), Ok(bulk("2")));
    assert_eq!(run(&mut con, &[b"GET", b"missing"]), Ok(Value::Nil));
    let after = dict(&mut con, "stats");
    assert_eq!(num(&after, "keyspace_hits") - num(&before, "keyspace_hits"), 2);
    assert_eq!(num(&after, "keyspace_misses") - num(&before, "keyspace_misses"), 1);
    // MSET, 3 GETs and the INFO itself (Redis counts the INFO being run).
    let processed =
        num(&after, "total_commands_processed") - num(&before, "total_commands_processed");
    assert!((4..=5).contains(&processed), "{processed}");

    let db0 = |con: &mut redis::Connection| -> String {
        dict(con, "keyspace").get("db0").expect("db0 line")
    };
    assert!(db0(&mut con).starts_with("keys=10,expires=0,avg_ttl="), "{}", db0(&mut con));
    // `expires` counts keys with a deadline: set, persisted, overwritten.
    for args in [&[&b"EXPIRE"[..], b"k1", b"100"][..], &[b"PEXPIRE", b"k2", b"100000"]] {
        assert_eq!(run(&mut con, args), Ok(Value::Int(1)));
    }
    assert_eq!(run(&mut con, &[b"SET", b"k3", b"v", b"EX", b"100"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"new", b"v", b"PX", b"100000"]), Ok(Value::Okay));
    assert!(db0(&mut con).starts_with("keys=11,expires=4,"), "{}", db0(&mut con));
    assert_eq!(run(&mut con, &[b"PERSIST", b"k1"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"SET", b"k2", b"v"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"DEL", b"k3"]), Ok(Value::Int(1)));
    assert!(db0(&mut con).starts_with("keys=10,expires=1,"), "{}", db0(&mut con));

    // Per-command counters, in Redis's format, only when asked for.
    let text = info(&mut con, &["commandstats"]);
    let stats = sections(&text);
    assert_eq!(stats[0].0, "Commandstats");
    let get = &stats[0].1.iter().find(|(k, _)| k == "cmdstat_get").expect("cmdstat_get").1;
    let calls = if is_capkv(&server) { "calls=3,usec=" } else { "calls=" };
    assert!(get.starts_with(calls), "{get}");
    assert!(get.contains(",rejected_calls=") && get.contains(",failed_calls="), "{get}");
    let everything = sections(&info(&mut con, &["all"]));
    assert!(everything.iter().any(|(n, _)| n == "Commandstats"));
}

/// `unit/info.tcl`'s errorstats tests in small: every error reply is
/// counted under its code, the first word of the error, whether the
/// command ran (a non-integer INCR), was refused before running (an
/// unknown command, a wrong arity) or was refused by authentication.
#[test]
fn info_errorstats_counts_error_replies_by_code() {
    let server = TestServer::start(&["--requirepass", "sesame"]);
    // Not `raw`: its PING would be refused (and counted) too.
    let mut c = common::Client::connect(target(&server));
    let count = |c: &mut _| -> (String, String) {
        let text = ask_text(c, &["INFO", "errorstats"]);
        let stats = ask_text(c, &["INFO", "stats"]);
        let total = stats
            .split("\r\n")
            .find_map(|l| l.strip_prefix("total_error_replies:"))
            .expect("total_error_replies")
            .to_string();
        // `$<len>\r\n# Errorstats\r\n<lines>\r\n`: the lines.
        let (_, body) = text.split_once("\r\n").expect("a bulk string");
        let lines = body.strip_prefix("# Errorstats\r\n").expect("the section header");
        (lines.strip_suffix("\r\n").expect("bulk end").to_string(), total)
    };
    assert!(ask_text(&mut c, &["GET", "k"]).starts_with("-NOAUTH "));
    assert!(ask_text(&mut c, &["AUTH", "wrong"]).starts_with("-WRONGPASS "));
    assert_eq!(ask_text(&mut c, &["AUTH", "sesame"]), "+OK\r\n");
    // Right after authenticating: only what the two refusals counted.
    let (text, total) = count(&mut c);
    assert_eq!(text, "errorstat_NOAUTH:count=1\r\nerrorstat_WRONGPASS:count=1\r\n");
    assert_eq!(total, "2");
    assert_eq!(ask_text(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert!(ask_text(&mut c, &["INCR", "k"]).starts_with("-ERR value is not an integer"));
    assert!(ask_text(&mut c, &["NOSUCHCOMMAND"]).starts_with("-ERR unknown command"));
    assert!(ask_text(&mut c, &["GET"]).starts_with("-ERR wrong number of arguments"));
    let (text, total) = count(&mut c);
    assert_eq!(
        text,
        "errorstat_ERR:count=3\r\nerrorstat_NOAUTH:count=1\r\nerrorstat_WRONGPASS:count=1\r\n"
    );
    assert_eq!(total, "5");
    // In INFO's default set, as in Redis.
    assert!(ask_text(&mut c, &["INFO"]).contains("# Errorstats\r\nerrorstat_ERR:count=3\r\n"));
}

/// CONFIG SET never answers OK to something it did not do: the
/// parameters fixed by capkv's start-up flags accept their current value
/// (nothing to change) and refuse any other with Redis's texts, the whole
/// command with it (what changes live: tests/config_live.rs). CONFIG
/// RESETSTAT zeroes the counters; CONFIG REWRITE has no file to write.
#[test]
fn config_set_refuses_what_it_cannot_do_and_resetstat_resets() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let ask = |c: &mut common::Client, args: &[&str]| ask_text(c, args);
    let immutable = |name: &str| {
        format!(
            "-ERR CONFIG SET failed (possibly related to argument '{name}') - can't set \
             immutable config (capkv takes it from its start-up flags)\r\n"
        )
    };
    assert_eq!(ask(&mut c, &["CONFIG", "SET", "port", "1"]), immutable("port"));
    assert_eq!(ask(&mut c, &["CONFIG", "SET", "IO-threads", "9"]), immutable("IO-threads"));
    assert_eq!(
        ask(&mut c, &["CONFIG", "SET", "foo", "bar"]),
        "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"
    );
    // What already holds is accepted; a refused pair refuses the command.
    assert_eq!(ask(&mut c, &["CONFIG", "SET", "appendonly", "no", "save", ""]), "+OK\r\n");
    assert_eq!(
        ask(&mut c, &["CONFIG", "SET", "maxclients", "1", "appendonly", "yes"]),
        immutable("appendonly")
    );
    assert_eq!(
        ask(&mut c, &["CONFIG", "SET", "appendonly", "no", "APPENDONLY", "no"]),
        "-ERR CONFIG SET failed (possibly related to argument 'APPENDONLY') - duplicate \
         parameter\r\n"
    );
    assert_eq!(ask(&mut c, &["CONFIG", "GET", "timeout"]), "*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n");
    assert_eq!(
        ask(&mut c, &["CONFIG", "REWRITE"]),
        "-ERR The server is running without a config file\r\n"
    );
    // RESETSTAT: hits, misses, commands and errors start again from zero.
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(ask(&mut c, &["CONFIG", "RESETSTAT"]), "+OK\r\n");
    let stats = ask(&mut c, &["INFO", "stats"]);
    for zero in ["keyspace_hits:0\r\n", "total_error_replies:0\r\n"] {
        assert!(stats.contains(zero), "{zero} after RESETSTAT: {stats}");
    }
    assert_eq!(ask(&mut c, &["INFO", "errorstats"]), "$14\r\n# Errorstats\r\n\r\n");
}

#[test]
fn config_get() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let pairs = |con: &mut redis::Connection, patterns: &[&str]| -> Vec<(String, String)> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET");
        for p in patterns {
            cmd.arg(*p);
        }
        let flat: Vec<String> = cmd.query(con).unwrap();
        flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
    };
    let maxmemory = pairs(&mut con, &["maxmemory"]);
    assert_eq!(maxmemory.len(), 1);
    assert_eq!(maxmemory[0].0, "maxmemory");
    let bytes: u64 = maxmemory[0].1.parse().unwrap();
    if is_capkv(&server) {
        assert_eq!(bytes, 256 << 20, "the budget");
    }
    let policy = pairs(&mut con, &["maxmemory-policy"]);
    assert_eq!(policy[0].0, "maxmemory-policy");
    assert!(!policy[0].1.is_empty());
    // Glob patterns, several at once, case-insensitive, no duplicates.
    let max = pairs(&mut con, &["max*"]);
    let names: Vec<&str> = max.iter().map(|(k, _)| k.as_str()).collect();
    for wanted in ["maxmemory", "maxmemory-policy", "maxclients"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let both = pairs(&mut con, &["MAXMEMORY", "maxmem*"]);
    // (Redis echoes an exact name as the client spelled it.)
    let maxmemory = both.iter().filter(|(k, _)| k.eq_ignore_ascii_case("maxmemory"));
    assert_eq!(maxmemory.count(), 1, "{both:?}");
    // What redis-benchmark asks for at start.
    for name in ["save", "appendonly"] {
        assert_eq!(pairs(&mut con, &[name]).len(), 1, "{name}");
    }
    assert!(pairs(&mut con, &["no-such-setting"]).is_empty());
    assert!(pairs(&mut con, &["*"]).len() >= 5);
    assert_eq!(
        run(&mut con, &[b"CONFIG", b"GET"]),
        Err("ERR wrong number of arguments for 'config|get' command".into())
    );
    assert_eq!(
        run(&mut con, &[b"CONFIG", b"FOO"]),
        Err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.".into())
    );
}

#[test]
fn command_count_docs_info() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    assert!(count > 0);
    // Arrays, which clients (redis-cli's hints, redis-py) accept as they
    // are; capkv's may be empty, the clients then use their own tables.
    for args in [&[&b"COMMAND"[..]][..], &[b"COMMAND", b"DOCS"], &[b"COMMAND", b"DOCS", b"get"]] {
        assert!(matches!(run(&mut con, args), Ok(Value::Array(_))), "{args:?}");
    }
    assert!(matches!(run(&mut con, &[b"COMMAND", b"INFO", b"get"]), Ok(Value::Array(_))));
    assert_eq!(
        run(&mut con, &[b"COMMAND", b"COUNT", b"x"]),
        Err("ERR wrong number of arguments for 'command|count' command".into())
    );
    assert_eq!(
        run(&mut con, &[b"COMMAND", b"FOO"]),
        Err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.".into())
    );
}

#[test]
fn client_setname_setinfo() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"CLIENT", b"GETNAME"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", b"worker-1"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"CLIENT", b"GETNAME"]), Ok(bulk("worker-1")));
    let invalid =
        Err("ERR Client names cannot contain spaces, newlines or special characters.".into());
    for bad in [&b"two words"[..], b"line\nbreak", b"\x00", "caf\u{e9}".as_bytes()] {
        assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", bad]), invalid, "{bad:?}");
    }
    // A refused name leaves the old one; another connection has its own.
    assert_eq!(run(&mut con, &[b"CLIENT", b"GETNAME"]), Ok(bulk("worker-1")));
    assert_eq!(run(&mut connect(&server), &[b"CLIENT", b"GETNAME"]), Ok(Value::Nil));
    if is_capkv(&server) {
        // capkv bounds names: they live outside the memory budget.
        assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", &[b'n'; 257]]), invalid);
        assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", &[b'n'; 256]]), Ok(Value::Okay));
    }
    // An empty name clears it.
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", b""]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"CLIENT", b"GETNAME"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", b"worker-1"]), Ok(Value::Okay));
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert!(id > 0);
    assert_eq!(
        run(&mut con, &[b"CLIENT", b"SETNAME"]),
        Err("ERR wrong number of arguments for 'client|setname' command".into())
    );
    assert_eq!(
        run(&mut con, &[b"CLIENT", b"FOO"]),
        Err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.".into())
    );
    if !is_capkv(&server) {
        return; // CLIENT SETINFO is Redis 7.2's.
    }
    // What redis-py and redis-rs send right after connecting.
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETINFO", b"LIB-VER", b"5.0.0"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
}

/// `unit/introspection.tcl`'s CLIENT REPLY tests, pipelined so that a
/// reply that should not exist would be read as the next one: OFF drops
/// every reply (errors included) until ON answers OK; SKIP drops the next
/// command's; ON clears a pending SKIP. Plus CLIENT NO-EVICT's replies
/// (what it does is in tests/memory_limit.rs).
#[test]
fn client_reply_off_on_skip_and_no_evict() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let pipeline = |c: &mut common::Client, requests: &[&[&str]]| {
        let mut bytes = Vec::new();
        for r in requests {
            let args: Vec<&[u8]> = r.iter().map(|a| a.as_bytes()).collect();
            bytes.extend(resp_support::encode(&args));
        }
        c.send(&bytes);
    };
    pipeline(
        &mut c,
        &[
            &["CLIENT", "REPLY", "OFF"],
            &["PING", "pong"],
            &["NOSUCHCOMMAND"],
            &["SET", "k", "v"],
            &["CLIENT", "REPLY", "ON"],
            &["PING", "pong3"],
        ],
    );
    assert_eq!(c.exact(5), b"+OK\r\n");
    assert_eq!(c.exact(11), b"$5\r\npong3\r\n");
    pipeline(&mut c, &[&["CLIENT", "REPLY", "SKIP"], &["PING", "pong"], &["PING", "pong2"]]);
    assert_eq!(c.exact(11), b"$5\r\npong2\r\n");
    pipeline(&mut c, &[&["CLIENT", "REPLY", "SKIP"], &["CLIENT", "REPLY", "ON"], &["PING"]]);
    assert_eq!(c.exact(12), b"+OK\r\n+PONG\r\n");
    // The write under OFF was applied.
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(ask_text(&mut c, &["CLIENT", "REPLY", "MAYBE"]), "-ERR syntax error\r\n");
    assert_eq!(ask_text(&mut c, &["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["CLIENT", "NO-EVICT", "OFF"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["CLIENT", "NO-EVICT", "maybe"]), "-ERR syntax error\r\n");
    let help = ask_text(&mut c, &["CLIENT", "HELP"]);
    assert!(
        help.starts_with(
            "*33\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
        ),
        "{help}"
    );
    assert!(
        help.contains("+REPLY (ON|OFF|SKIP)\r\n")
            && help.ends_with("+HELP\r\n+    Prints this help.\r\n")
    );
}

#[test]
fn hello_describes_the_server() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    for args in [&[&b"HELLO"[..]][..], &[b"HELLO", b"2"], &[b"HELLO", b"2", b"SETNAME", b"n"]] {
        let Ok(Value::Array(fields)) = run(&mut con, args) else { panic!("{args:?}") };
        let map: Vec<(Value, Value)> =
            fields.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
        let get = |k: &str| map.iter().find(|(key, _)| *key == bulk(k)).map(|(_, v)| v.clone());
        assert_eq!(get("server"), Some(bulk("redis")));
        assert_eq!(get("proto"), Some(Value::Int(2)));
        assert!(matches!(get("version"), Some(Value::BulkString(_))));
        assert!(matches!(get("id"), Some(Value::Int(_))));
        assert_eq!(get("mode"), Some(bulk("standalone")));
        assert_eq!(get("role"), Some(bulk("master")));
    }
    assert_eq!(
        run(&mut con, &[b"HELLO", b"two"]),
        Err("ERR Protocol version is not an integer or out of range".into())
    );
    assert_eq!(
        run(&mut con, &[b"HELLO", b"4"]),
        Err("NOPROTO unsupported protocol version".into())
    );
    assert_eq!(
        run(&mut con, &[b"HELLO", b"2", b"FOO"]),
        Err("ERR Syntax error in HELLO option 'FOO'".into())
    );
    assert_eq!(run(&mut con, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
}

/// Raw bytes of the RESP3 replies that differ from RESP2, after `HELLO 3`,
/// and back after `HELLO 2`.
#[test]
fn hello_3_switches_to_resp3_replies() {
    let server = TestServer::start(&[]);
    let _flush = connect(&server);
    let mut c = raw(&server);
    assert_eq!(ask_text(&mut c, &["GET", "missing"]), "$-1\r\n");
    let hello = ask_text(&mut c, &["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert_eq!(ask_text(&mut c, &["GET", "missing"]), "_\r\n");
    assert_eq!(ask_text(&mut c, &["SET", "k", "v", "XX"]), "_\r\n");
    assert_eq!(ask_text(&mut c, &["SET", "k", "v", "GET"]), "_\r\n");
    assert_eq!(ask_text(&mut c, &["MGET", "k", "missing"]), "*2\r\n$1\r\nv\r\n_\r\n");
    let config = ask_text(&mut c, &["CONFIG", "GET", "maxmemory-policy"]);
    assert!(config.starts_with("%1\r\n$16\r\nmaxmemory-policy\r\n$"), "{config}");
    // Everything else reads as in RESP2.
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(ask_text(&mut c, &["TTL", "k"]), ":-1\r\n");
    assert_eq!(ask_text(&mut c, &["PING"]), "+PONG\r\n");
    assert_eq!(ask_text(&mut c, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    // HELLO without a version keeps the protocol; HELLO 2 goes back.
    assert!(ask_text(&mut c, &["HELLO"]).starts_with("%7\r\n"));
    assert!(ask_text(&mut c, &["HELLO", "2"]).starts_with("*14\r\n"));
    assert_eq!(ask_text(&mut c, &["GET", "missing"]), "$-1\r\n");
    // A refused HELLO changes nothing.
    assert_eq!(ask_text(&mut c, &["HELLO", "4"]), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "missing"]), "$-1\r\n");
}

/// redis-rs speaking RESP3 (`?protocol=resp3`), as redis-py 8 does by
/// default.
#[test]
fn redis_rs_over_resp3() {
    let server = TestServer::start(&[]);
    let _flush = connect(&server);
    let url = format!("redis://{}/?protocol=resp3", target(&server));
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(run(&mut con, &[b"GET", b"missing"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EX", b"100"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v")));
    assert_eq!(
        run(&mut con, &[b"MGET", b"k", b"x"]),
        Ok(Value::Array(vec![bulk("v"), Value::Nil]))
    );
    let ttl: i64 = redis::Commands::ttl(&mut con, "k").unwrap();
    assert!((99..=100).contains(&ttl));
    let Ok(Value::Map(pairs)) = run(&mut con, &[b"CONFIG", b"GET", b"maxmemory"]) else {
        panic!("CONFIG GET is a map in RESP3");
    };
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].0, bulk("maxmemory"));
    let Ok(Value::Map(hello)) = run(&mut con, &[b"HELLO", b"3"]) else { panic!("HELLO map") };
    assert!(hello.contains(&(bulk("proto"), Value::Int(3))));
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
        pipe.cmd("GET").arg(format!("p{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert!(values.iter().copied().eq(0..1000));
}

/// The sections exporters and client libraries read at start-up exist and
/// say what capkv is: a primary without replicas or persistence.
#[test]
fn info_has_cpu_replication_and_persistence_sections() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let section = |con: &mut redis::Connection, name: &str| -> String {
        redis::cmd("INFO").arg(name).query(con).unwrap()
    };
    let cpu = section(&mut con, "cpu");
    assert!(cpu.starts_with("# CPU\r\n"), "{cpu}");
    for field in ["used_cpu_sys:", "used_cpu_user:", "used_cpu_user_main_thread:"] {
        assert!(cpu.contains(field), "{field} in {cpu}");
    }
    let replication = section(&mut con, "replication");
    assert!(replication.contains("role:master\r\n") && replication.contains("connected_slaves:0"));
    let id = replication.split("master_replid:").nth(1).unwrap().split("\r\n").next().unwrap();
    assert!(id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(section(&mut con, "replication"), replication, "the id is stable");
    let persistence = section(&mut con, "persistence");
    assert!(persistence.contains("loading:0") && persistence.contains("aof_enabled:0"));
    let default = section(&mut con, "default");
    for title in ["# Server", "# Persistence", "# Replication", "# CPU", "# Keyspace"] {
        assert!(default.contains(title), "{title} in the default INFO");
    }
    assert!(!default.contains("# Commandstats"));
}
