//! COMMAND INFO, DOCS, LIST, COUNT, GETKEYS and GETKEYSANDFLAGS over real
//! TCP. The expected bytes are redis-server 7.0.15's own (taken with a raw
//! socket, RESP2 and RESP3), except COMMAND INFO's categories element: capkv
//! shows its own ACL categories there (see `engine::introspection`), so
//! each case carries both, and the one of the server under test is used
//! (`CAPKV_RESP_TESTS_AGAINST` points the tests at redis-server).

mod common;
mod resp_support;

use common::{Client, TestServer};
use resp_support::{ask, ask_text, is_capkv, raw};

/// (protocol, command, bytes before the categories, Redis's categories,
/// capkv's categories, bytes after them).
const INFO: &[(u8, &str, &str, &str, &str, &str)] = &[
    (
        2,
        "get",
        "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n",
        "*3\r\n+@read\r\n+@string\r\n+@fast\r\n",
        "*2\r\n+@read\r\n+@fast\r\n",
        "*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "set",
        "*1\r\n*10\r\n$3\r\nset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n",
        "*3\r\n+@write\r\n+@string\r\n+@slow\r\n",
        "*1\r\n+@write\r\n",
        "*0\r\n*1\r\n*8\r\n$5\r\nnotes\r\n$48\r\nRW and ACCESS due to the optional `GET` argument\r\n$5\r\nflags\r\n*4\r\n+RW\r\n+access\r\n+update\r\n+variable_flags\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "mset",
        "*1\r\n*10\r\n$4\r\nmset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n",
        "*3\r\n+@write\r\n+@string\r\n+@slow\r\n",
        "*1\r\n+@write\r\n",
        "*2\r\n$26\r\nrequest_policy:multi_shard\r\n$29\r\nresponse_policy:all_succeeded\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "del",
        "*1\r\n*10\r\n$3\r\ndel\r\n:-2\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:1\r\n",
        "*3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n",
        "*2\r\n+@keyspace\r\n+@write\r\n",
        "*2\r\n$26\r\nrequest_policy:multi_shard\r\n$23\r\nresponse_policy:agg_sum\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RM\r\n+delete\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "bitop",
        "*1\r\n*10\r\n$5\r\nbitop\r\n:-4\r\n*2\r\n+write\r\n+denyoom\r\n:2\r\n:-1\r\n:1\r\n",
        "*3\r\n+@write\r\n+@bitmap\r\n+@slow\r\n",
        "*1\r\n+@write\r\n",
        "*0\r\n*2\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:2\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:3\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "client|list",
        "*1\r\n*10\r\n$11\r\nclient|list\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n",
        "*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n",
        "*1\r\n+@connection\r\n",
        "*1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n",
    ),
    (
        2,
        "config|get",
        "*1\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n",
        "*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n",
        "*2\r\n+@admin\r\n+@dangerous\r\n",
        "*0\r\n*0\r\n*0\r\n",
    ),
    (
        2,
        "lcs",
        "*1\r\n*10\r\n$3\r\nlcs\r\n:-3\r\n*1\r\n+readonly\r\n:1\r\n:2\r\n:1\r\n",
        "*3\r\n+@read\r\n+@string\r\n+@slow\r\n",
        "*1\r\n+@read\r\n",
        "*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        2,
        "ping",
        "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n",
        "*2\r\n+@fast\r\n+@connection\r\n",
        "*2\r\n+@fast\r\n+@connection\r\n",
        "*2\r\n$25\r\nrequest_policy:all_shards\r\n$29\r\nresponse_policy:all_succeeded\r\n*0\r\n*0\r\n",
    ),
    (
        3,
        "get",
        "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n",
        "~3\r\n+@read\r\n+@string\r\n+@fast\r\n",
        "~2\r\n+@read\r\n+@fast\r\n",
        "~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "set",
        "*1\r\n*10\r\n$3\r\nset\r\n:-3\r\n~2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n",
        "~3\r\n+@write\r\n+@string\r\n+@slow\r\n",
        "~1\r\n+@write\r\n",
        "~0\r\n~1\r\n%4\r\n$5\r\nnotes\r\n$48\r\nRW and ACCESS due to the optional `GET` argument\r\n$5\r\nflags\r\n~4\r\n+RW\r\n+access\r\n+update\r\n+variable_flags\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "mset",
        "*1\r\n*10\r\n$4\r\nmset\r\n:-3\r\n~2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n",
        "~3\r\n+@write\r\n+@string\r\n+@slow\r\n",
        "~1\r\n+@write\r\n",
        "~2\r\n$26\r\nrequest_policy:multi_shard\r\n$29\r\nresponse_policy:all_succeeded\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "del",
        "*1\r\n*10\r\n$3\r\ndel\r\n:-2\r\n~1\r\n+write\r\n:1\r\n:-1\r\n:1\r\n",
        "~3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n",
        "~2\r\n+@keyspace\r\n+@write\r\n",
        "~2\r\n$26\r\nrequest_policy:multi_shard\r\n$23\r\nresponse_policy:agg_sum\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RM\r\n+delete\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "bitop",
        "*1\r\n*10\r\n$5\r\nbitop\r\n:-4\r\n~2\r\n+write\r\n+denyoom\r\n:2\r\n:-1\r\n:1\r\n",
        "~3\r\n+@write\r\n+@bitmap\r\n+@slow\r\n",
        "~1\r\n+@write\r\n",
        "~0\r\n~2\r\n%3\r\n$5\r\nflags\r\n~2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:2\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:3\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "client|list",
        "*1\r\n*10\r\n$11\r\nclient|list\r\n:-2\r\n~4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n",
        "~4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n",
        "~1\r\n+@connection\r\n",
        "~1\r\n$23\r\nnondeterministic_output\r\n~0\r\n~0\r\n",
    ),
    (
        3,
        "config|get",
        "*1\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n~4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n",
        "~3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n",
        "~2\r\n+@admin\r\n+@dangerous\r\n",
        "~0\r\n~0\r\n~0\r\n",
    ),
    (
        3,
        "lcs",
        "*1\r\n*10\r\n$3\r\nlcs\r\n:-3\r\n~1\r\n+readonly\r\n:1\r\n:2\r\n:1\r\n",
        "~3\r\n+@read\r\n+@string\r\n+@slow\r\n",
        "~1\r\n+@read\r\n",
        "~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n",
    ),
    (
        3,
        "ping",
        "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n~1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n",
        "~2\r\n+@fast\r\n+@connection\r\n",
        "~2\r\n+@fast\r\n+@connection\r\n",
        "~2\r\n$25\r\nrequest_policy:all_shards\r\n$29\r\nresponse_policy:all_succeeded\r\n~0\r\n~0\r\n",
    ),
];

fn client(server: &TestServer, protocol: u8) -> Client {
    let mut c = raw(server);
    if protocol == 3 {
        let hello = ask(&mut c, &[b"HELLO", b"3"]);
        assert!(hello.starts_with(b"%"), "{:?}", String::from_utf8_lossy(&hello));
    }
    c
}

#[test]
fn command_info_is_redis_byte_for_byte_but_the_categories() {
    let server = TestServer::start(&[]);
    for &(protocol, name, before, redis_cats, capkv_cats, after) in INFO {
        let mut c = client(&server, protocol);
        let cats = if is_capkv(&server) { capkv_cats } else { redis_cats };
        let expected = format!("{before}{cats}{after}");
        assert_eq!(
            ask_text(&mut c, &["COMMAND", "INFO", name]),
            expected,
            "COMMAND INFO {name}, RESP{protocol}"
        );
    }
}

#[test]
fn command_info_of_unknown_names_is_null() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    assert_eq!(ask_text(&mut c, &["COMMAND", "INFO", "nosuch", "get|key"]), "*2\r\n$-1\r\n$-1\r\n");
    let mut c = client(&server, 3);
    assert_eq!(ask_text(&mut c, &["COMMAND", "INFO", "nosuch"]), "*1\r\n_\r\n");
    // Names are case-insensitive; subcommands by `container|sub`.
    let upper = ask_text(&mut c, &["COMMAND", "INFO", "CONFIG|GET"]);
    assert!(upper.starts_with("*1\r\n*10\r\n$10\r\nconfig|get\r\n"), "{upper}");
}

#[test]
fn command_and_command_info_list_every_command_with_its_subcommands() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    let count = ask_text(&mut c, &["COMMAND", "COUNT"]);
    let n: usize = count.trim_start_matches(':').trim_end().parse().expect(&count);
    assert!(n > 50, "{count}");
    for request in [&["COMMAND"][..], &["COMMAND", "INFO"]] {
        let all = ask_text(&mut c, request);
        assert!(all.starts_with(&format!("*{n}\r\n")), "{request:?}");
        // A container lists its subcommands.
        let config = all.find("$6\r\nconfig\r\n").expect("config");
        assert!(all[config..].contains("$10\r\nconfig|get\r\n"));
    }
    if is_capkv(&server) {
        // The top-level commands capkv has, aliases included.
        let all = ask_text(&mut c, &["COMMAND"]);
        for name in ["get", "unlink", "substr", "setnx", "incr", "pexpire", "flushdb"] {
            assert!(all.contains(&format!("\r\n${}\r\n{name}\r\n", name.len())), "{name}");
        }
        assert!(!all.contains("$4\r\nlpush\r\n"));
    }
}

#[test]
fn command_docs_of_get_and_a_subcommand() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    assert_eq!(
        ask_text(&mut c, &["COMMAND", "DOCS", "get", "nosuch"]),
        "*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n\
         $5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n\
         $10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*6\r\n\
         $4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n\
         $14\r\nkey_spec_index\r\n:0\r\n"
    );
    let mut c3 = client(&server, 3);
    let docs = ask_text(&mut c3, &["COMMAND", "DOCS", "client|list"]);
    assert!(docs.starts_with("%1\r\n$11\r\nclient|list\r\n%6\r\n$7\r\nsummary\r\n"), "{docs}");
    // History is a set of [version, change] pairs; oneof/block arguments nest.
    assert!(docs.contains("$7\r\nhistory\r\n~6\r\n*2\r\n$6\r\n2.8.12\r\n"), "{docs}");
    assert!(docs.contains("$5\r\ntoken\r\n$4\r\nTYPE\r\n"), "{docs}");
    assert_eq!(ask_text(&mut c, &["COMMAND", "DOCS", "nosuch"]), "*0\r\n");
    // Every command's docs: a map of them all.
    let all = ask_text(&mut c3, &["COMMAND", "DOCS"]);
    let count = ask_text(&mut c3, &["COMMAND", "COUNT"]);
    assert!(all.starts_with(&format!("%{}\r\n", count.trim_start_matches(':').trim_end())));
}

#[test]
fn command_getkeys_and_flags() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    let cases: &[(&[&str], &str)] = &[
        (&["get", "k"], "*1\r\n$1\r\nk\r\n"),
        (&["mset", "a", "1", "b", "2"], "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
        (&["memory", "usage", "k"], "*1\r\n$1\r\nk\r\n"),
        (&["object", "encoding", "k"], "*1\r\n$1\r\nk\r\n"),
        (&["EXPIRE", "k", "10"], "*1\r\n$1\r\nk\r\n"),
        (&["nosuch", "x"], "-ERR Invalid command specified\r\n"),
        (&["config", "get", "x"], "-ERR The command has no key arguments\r\n"),
        (&["lcs", "a"], "-ERR Invalid number of arguments specified for command\r\n"),
    ];
    for (request, expected) in cases {
        let mut words = vec!["COMMAND", "GETKEYS"];
        words.extend_from_slice(request);
        assert_eq!(ask_text(&mut c, &words), *expected, "{request:?}");
    }
    assert_eq!(
        ask_text(&mut c, &["COMMAND", "GETKEYS", "ping"]),
        "-ERR wrong number of arguments for 'command|getkeys' command\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v", "get"]),
        "*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"]),
        "*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+OW\r\n+update\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["COMMAND", "GETKEYSANDFLAGS", "bitop", "and", "d", "s1", "s2"]),
        "*3\r\n*2\r\n$1\r\nd\r\n*2\r\n+OW\r\n+update\r\n\
         *2\r\n$2\r\ns1\r\n*2\r\n+RO\r\n+access\r\n\
         *2\r\n$2\r\ns2\r\n*2\r\n+RO\r\n+access\r\n"
    );
    let mut c3 = client(&server, 3);
    assert_eq!(
        ask_text(&mut c3, &["COMMAND", "GETKEYSANDFLAGS", "get", "k"]),
        "*1\r\n*2\r\n$1\r\nk\r\n~2\r\n+RO\r\n+access\r\n"
    );
}

#[test]
fn command_list_and_its_filters() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    let all = ask_text(&mut c, &["COMMAND", "LIST"]);
    for name in ["get", "unlink", "client|list", "config|get", "command|info"] {
        assert!(all.contains(&format!("\r\n${}\r\n{name}\r\n", name.len())), "{name}");
    }
    // PATTERN: a case-insensitive glob over full names.
    let config = ask_text(&mut c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "CONF*"]);
    let mut names: Vec<&str> = config.split("\r\n").skip(1).skip(1).step_by(2).collect();
    names.retain(|n| !n.is_empty());
    names.sort_unstable();
    let expected: &[&str] = if is_capkv(&server) {
        &["config", "config|get", "config|resetstat", "config|rewrite", "config|set"]
    } else {
        &["config", "config|get", "config|help", "config|resetstat", "config|rewrite", "config|set"]
    };
    assert_eq!(names, expected);
    assert_eq!(ask_text(&mut c, &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]), "*0\r\n");
    assert_eq!(ask_text(&mut c, &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"]), "*0\r\n");
    // ACLCAT: the category's commands, as ACL CAT lists them.
    let dangerous = ask_text(&mut c, &["COMMAND", "LIST", "FILTERBY", "aclcat", "dangerous"]);
    assert!(
        dangerous.contains("$8\r\nflushall\r\n") && dangerous.contains("$10\r\nconfig|get\r\n")
    );
    assert!(!dangerous.contains("$3\r\nget\r\n"));
    let read = ask_text(&mut c, &["COMMAND", "LIST", "FILTERBY", "aclcat", "READ"]);
    assert!(read.contains("$3\r\nget\r\n") && !read.contains("$3\r\nset\r\n"));
    for bad in [
        &["COMMAND", "LIST", "x"][..],
        &["COMMAND", "LIST", "FILTERBY", "x", "y"],
        &["COMMAND", "LIST", "FILTERBY", "aclcat"],
        &["COMMAND", "LIST", "FILTERBY", "aclcat", "read", "extra"],
    ] {
        assert_eq!(ask_text(&mut c, bad), "-ERR syntax error\r\n", "{bad:?}");
    }
}

#[test]
fn command_help() {
    let server = TestServer::start(&[]);
    let mut c = client(&server, 2);
    let help = ask_text(&mut c, &["COMMAND", "HELP"]);
    assert!(
        help.starts_with(
            "*21\r\n+COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
        ),
        "{help}"
    );
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"), "{help}");
}
