//! CLIENT LIST, CLIENT INFO and CLIENT KILL over real TCP: Redis 7.0's
//! line format with each connection's real addresses, name, last command
//! and protocol; KILL's old and new forms, which close even an idle
//! connection at once; Redis's error texts.

mod common;
mod resp_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Client, TestServer, eventually};
use resp_support::{ask, ask_text, encode, is_capkv, raw, read_reply};

/// The fields of one CLIENT LIST line.
fn fields(line: &str) -> HashMap<String, String> {
    line.split(' ')
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The lines of a CLIENT LIST / CLIENT INFO bulk reply, each as fields.
fn lines(reply: &[u8]) -> Vec<HashMap<String, String>> {
    let text = String::from_utf8_lossy(reply);
    let (header, body) = text.split_once("\r\n").expect("a bulk reply");
    assert!(header.starts_with('$'), "not a bulk string: {text}");
    let body = body.strip_suffix("\r\n").expect("framed");
    assert!(body.is_empty() || body.ends_with('\n'), "every line ends with a newline");
    body.lines().map(fields).collect()
}

fn client_list(client: &mut Client, filter: &[&str]) -> Vec<HashMap<String, String>> {
    let mut args = vec!["CLIENT", "LIST"];
    args.extend_from_slice(filter);
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    lines(&ask(client, &args))
}

fn id_of(client: &mut Client) -> String {
    let reply = ask_text(client, &["CLIENT", "ID"]);
    reply.trim_start_matches(':').trim_end().to_string()
}

/// A raw client that has named itself (and so has run a command).
fn named(server: &TestServer, name: &str) -> Client {
    let mut client = raw(server);
    assert_eq!(ask_text(&mut client, &["CLIENT", "SETNAME", name]), "+OK\r\n");
    client
}

/// True once `client` reads end of stream within `limit`.
fn closed_within(client: &mut Client, limit: Duration) -> bool {
    client.stream.set_read_timeout(Some(limit)).unwrap();
    client.closed()
}

#[test]
fn client_list_shows_every_connection_with_its_own_fields() {
    let server = TestServer::start(&[]);
    let mut a = named(&server, "alpha");
    let mut b = named(&server, "beta");
    assert_eq!(ask_text(&mut b, &["HELLO", "3"]).chars().next(), Some('%'));
    assert_eq!(ask_text(&mut b, &["GET", "k"]), "_\r\n");
    let all = client_list(&mut a, &[]);
    let alpha = all.iter().find(|f| f["name"] == "alpha").expect("alpha listed");
    let beta = all.iter().find(|f| f["name"] == "beta").expect("beta listed");
    // Addresses are the sockets' own, seen from the server.
    assert_eq!(alpha["addr"], a.stream.local_addr().unwrap().to_string());
    assert_eq!(alpha["laddr"], a.stream.peer_addr().unwrap().to_string());
    assert_eq!(beta["addr"], b.stream.local_addr().unwrap().to_string());
    assert_eq!(alpha["id"], id_of(&mut a));
    // The caller's line shows the command it is running; the other's its
    // last one.
    assert_eq!(alpha["cmd"], "client|list");
    assert_eq!(beta["cmd"], "get");
    assert_eq!((alpha["resp"].as_str(), beta["resp"].as_str()), ("2", "3"));
    for line in [alpha, beta] {
        assert_eq!(line["flags"], "N");
        assert_eq!(line["user"], "default");
        assert_eq!(line["multi"], "-1");
        assert!(line["qbuf"].parse::<u64>().is_ok());
        assert_eq!(line["events"], "r");
    }
    // Lines come in id order, and in Redis's field order.
    let ids: Vec<u64> = all.iter().map(|f| f["id"].parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let reply = String::from_utf8(ask(&mut a, &[b"CLIENT", b"INFO"])).unwrap();
    let order = [
        "id=",
        " addr=",
        " laddr=",
        " fd=",
        " name=alpha",
        " age=",
        " idle=0",
        " flags=N",
        " db=0",
        " sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=",
        " argv-mem=",
        " multi-mem=0 rbs=",
        " rbp=",
        " obl=0 oll=0 omem=0 tot-mem=",
        " events=r",
        " cmd=client|info user=default redir=-1 resp=2\n",
    ];
    let mut at = 0;
    for part in order {
        let found = reply[at..].find(part).unwrap_or_else(|| panic!("{part:?} in {reply}"));
        at += found + part.len();
    }
}

#[test]
fn client_list_filters_by_id_and_type() {
    let server = TestServer::start(&[]);
    let mut a = raw(&server);
    let mut b = raw(&server);
    let (a_id, b_id) = (id_of(&mut a), id_of(&mut b));
    let listed = client_list(&mut a, &["ID", &b_id, "999999", &a_id]);
    let ids: Vec<&str> = listed.iter().map(|f| f["id"].as_str()).collect();
    assert_eq!(ids, [b_id.as_str(), a_id.as_str()], "in the order asked, unknown ids left out");
    assert_eq!(client_list(&mut a, &["TYPE", "normal"]).len(), 2);
    assert!(client_list(&mut a, &["type", "pubsub"]).is_empty());
    assert!(client_list(&mut a, &["TYPE", "replica"]).is_empty());
    assert_eq!(
        ask_text(&mut a, &["CLIENT", "LIST", "TYPE", "nope"]),
        "-ERR Unknown client type 'nope'\r\n"
    );
    assert_eq!(ask_text(&mut a, &["CLIENT", "LIST", "ID", "x"]), "-ERR Invalid client ID\r\n");
    assert_eq!(ask_text(&mut a, &["CLIENT", "LIST", "FOO"]), "-ERR syntax error\r\n");
    assert_eq!(
        ask_text(&mut a, &["CLIENT", "INFO", "x"]),
        "-ERR wrong number of arguments for 'client|info' command\r\n"
    );
}

#[test]
fn client_kill_by_id_closes_an_idle_connection_at_once() {
    let server = TestServer::start(&[]);
    let mut killer = raw(&server);
    let mut idle = raw(&server);
    let id = id_of(&mut idle);
    // `idle` now waits in a read: the kill must wake it.
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    assert!(closed_within(&mut idle, Duration::from_secs(5)), "the killed connection closes");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Gone from the list, and a second kill finds nothing.
    assert!(client_list(&mut killer, &["ID", &id]).is_empty());
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", "ID", &id]), ":0\r\n");
    assert_eq!(ask_text(&mut killer, &["PING"]), "+PONG\r\n");
}

#[test]
fn client_kill_by_addr_old_and_new_form() {
    let server = TestServer::start(&[]);
    let mut killer = raw(&server);
    let mut first = raw(&server);
    let mut second = raw(&server);
    let addr = first.stream.local_addr().unwrap().to_string();
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", &addr]), "+OK\r\n");
    assert!(closed_within(&mut first, Duration::from_secs(5)));
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", &addr]), "-ERR No such client\r\n");
    let addr = second.stream.local_addr().unwrap().to_string();
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", "ADDR", &addr]), ":1\r\n");
    assert!(closed_within(&mut second, Duration::from_secs(5)));
    assert_eq!(ask_text(&mut killer, &["CLIENT", "KILL", "ADDR", &addr]), ":0\r\n");
    // LADDR and USER match every client here (one listener, no ACL);
    // SKIPME yes is the default, so the caller is spared.
    let mut third = raw(&server);
    let laddr = killer.stream.peer_addr().unwrap().to_string();
    let args = ["CLIENT", "KILL", "LADDR", &laddr, "USER", "default"];
    assert_eq!(ask_text(&mut killer, &args), ":1\r\n");
    assert!(closed_within(&mut third, Duration::from_secs(5)));
    let args = ["CLIENT", "KILL", "LADDR", "127.0.0.1:1", "SKIPME", "no"];
    assert_eq!(ask_text(&mut killer, &args), ":0\r\n");
}

#[test]
fn client_kill_skipme_and_killing_oneself() {
    let server = TestServer::start(&[]);
    let mut me = raw(&server);
    let mut others = [raw(&server), raw(&server)];
    assert_eq!(ask_text(&mut me, &["CLIENT", "KILL", "SKIPME", "yes"]), ":2\r\n");
    for other in &mut others {
        assert!(closed_within(other, Duration::from_secs(5)));
    }
    assert_eq!(ask_text(&mut me, &["PING"]), "+PONG\r\n");
    // SKIPME no: the caller counts, gets its answer, then is closed.
    let _other = raw(&server);
    assert_eq!(ask_text(&mut me, &["CLIENT", "KILL", "SKIPME", "no"]), ":2\r\n");
    assert!(closed_within(&mut me, Duration::from_secs(5)));
    // The old form may kill the caller too: OK, then closed.
    let mut me = raw(&server);
    let addr = me.stream.local_addr().unwrap().to_string();
    assert_eq!(ask_text(&mut me, &["CLIENT", "KILL", &addr]), "+OK\r\n");
    assert!(closed_within(&mut me, Duration::from_secs(5)));
}

#[test]
fn client_kill_errors_are_redis_texts() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let cases: &[(&[&str], &str)] = &[
        (&["CLIENT", "KILL"], "-ERR wrong number of arguments for 'client|kill' command\r\n"),
        (&["CLIENT", "KILL", "ID", "10", "wrong_arg"], "-ERR syntax error\r\n"),
        (&["CLIENT", "KILL", "ID", "str"], "-ERR client-id should be greater than 0\r\n"),
        (&["CLIENT", "KILL", "ID", "-1"], "-ERR client-id should be greater than 0\r\n"),
        (&["CLIENT", "KILL", "ID", "0"], "-ERR client-id should be greater than 0\r\n"),
        (&["CLIENT", "KILL", "TYPE", "wrong_type"], "-ERR Unknown client type 'wrong_type'\r\n"),
        (&["CLIENT", "KILL", "USER", "wrong_user"], "-ERR No such user 'wrong_user'\r\n"),
        (&["CLIENT", "KILL", "SKIPME", "yes_or_no"], "-ERR syntax error\r\n"),
        (&["CLIENT", "KILL", "FOO", "bar"], "-ERR syntax error\r\n"),
    ];
    for (args, want) in cases {
        assert_eq!(ask_text(&mut c, args), *want, "{args:?}");
    }
    // TYPE master matches nobody.
    assert_eq!(ask_text(&mut c, &["CLIENT", "KILL", "TYPE", "master"]), ":0\r\n");
    assert_eq!(ask_text(&mut c, &["PING"]), "+PONG\r\n");
}

#[test]
fn the_query_buffer_shows_a_request_still_arriving_and_empties_after() {
    let server = TestServer::start(&[]);
    let mut watcher = raw(&server);
    let mut sender = named(&server, "sender");
    // Half of a 100 KiB SET: the connection holds it in a buffer of its own.
    let request = encode(&[b"SET", b"k", &vec![b'x'; 100 << 10]]);
    let half = request.len() / 2;
    sender.send(&request[..half]);
    let qbuf = |watcher: &mut Client| {
        let all = client_list(watcher, &[]);
        let line = all.into_iter().find(|f| f["name"] == "sender").expect("sender listed");
        let n = |k: &str| line[k].parse::<usize>().unwrap();
        (n("qbuf"), n("qbuf-free"), n("tot-mem"))
    };
    let grown = eventually(Duration::from_secs(5), || qbuf(&mut watcher).0 >= half);
    let (held, free, total) = qbuf(&mut watcher);
    assert!(grown, "qbuf {held} while {half} bytes are held");
    if is_capkv(&server) {
        assert!(held + free >= request.len(), "room for the whole request");
        assert!(total >= held + free);
    }
    sender.send(&request[half..]);
    assert_eq!(read_reply(&mut sender), b"+OK\r\n");
    // capkv frees the buffer as soon as the request is complete (Redis
    // keeps it until its cron shrinks it).
    if is_capkv(&server) {
        assert!(eventually(Duration::from_secs(5), || qbuf(&mut watcher) == (0, 0, 0)));
    }
}

#[test]
fn idle_and_age_count_seconds() {
    let server = TestServer::start(&[]);
    let mut watcher = raw(&server);
    let _sleeper = named(&server, "sleeper");
    let idle = |watcher: &mut Client| {
        let all = client_list(watcher, &[]);
        let line = all.into_iter().find(|f| f["name"] == "sleeper").expect("listed");
        (line["idle"].parse::<u64>().unwrap(), line["age"].parse::<u64>().unwrap())
    };
    assert!(eventually(Duration::from_secs(10), || idle(&mut watcher).0 >= 2));
    let (idle_secs, age) = idle(&mut watcher);
    assert!(age >= idle_secs, "age {age} >= idle {idle_secs}");
}
