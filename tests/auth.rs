//! Passwords, ACL users and `--deny-dangerous` over real TCP, exact bytes
//! on both protocols (Redis 7.0's texts on RESP).

mod common;
mod resp_support;

use std::path::PathBuf;
use std::time::Duration;

use capkv::protocol::{CommandId, Flags, Limits, Parsed, REGISTRY, resp};

use common::{BinaryServer, Client, TestServer, eventually, http_get};
use resp_support::{ask_text, read_reply};

const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const HELLO_NOAUTH: &str = "-NOAUTH HELLO must be called with the client already authenticated, \
                            otherwise the HELLO AUTH <user> <pass> option can be used to \
                            authenticate the client and select the RESP protocol version at the \
                            same time\r\n";
const NO_PASSWORD: &str = "-ERR AUTH <password> called without any password configured for the \
                           default user. Are you sure your configuration is correct?\r\n";
const NOPERM_KEY: &str =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";

fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

fn noperm(command: &str) -> String {
    format!("-NOPERM this user has no permissions to run the '{command}' command\r\n")
}

/// A directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capkv-auth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn acl_server(name: &str, acl: &str, extra: &[&str]) -> (TestServer, PathBuf) {
    let path = scratch(name).join("users.acl");
    std::fs::write(&path, acl).unwrap();
    let mut args = vec!["--aclfile", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    (TestServer::start(&args), path)
}

/// A raw RESP client that has sent nothing yet.
fn resp_client(server: &TestServer) -> Client {
    Client::connect(server.addr)
}

fn auth(c: &mut Client, user: &str, password: &str) {
    assert_eq!(ask_text(c, &["AUTH", user, password]), "+OK\r\n", "AUTH {user}");
}

#[test]
fn requirepass_on_resp() {
    let server = TestServer::start(&["--requirepass", "s3cret"]);
    let mut c = resp_client(&server);
    assert_eq!(ask_text(&mut c, &["PING"]), NOAUTH);
    assert_eq!(ask_text(&mut c, &["GET", "k"]), NOAUTH);
    assert_eq!(ask_text(&mut c, &["SET", "k", "v"]), NOAUTH);
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), NOAUTH);
    assert_eq!(ask_text(&mut c, &["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["AUTH", "default", "wrong"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["AUTH", "nobody", "s3cret"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["AUTH", "a", "b", "c"]), "-ERR syntax error\r\n");
    assert_eq!(ask_text(&mut c, &["HELLO", "3"]), HELLO_NOAUTH);
    assert_eq!(ask_text(&mut c, &["HELLO", "3", "AUTH", "default", "wrong"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["GET", "k"]), NOAUTH, "still not authenticated");
    assert_eq!(ask_text(&mut c, &["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$-1\r\n");
    assert_eq!(ask_text(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), "$7\r\ndefault\r\n");
    // A wrong AUTH later does not log an authenticated client out (Redis).
    assert_eq!(ask_text(&mut c, &["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    let info = ask_text(&mut c, &["INFO", "stats"]);
    assert!(info.contains("acl_access_denied_auth:5\r\n"), "{info}");

    // HELLO AUTH authenticates and switches protocol at once.
    let mut h = resp_client(&server);
    let reply = ask_text(&mut h, &["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n"), "{reply}");
    assert_eq!(ask_text(&mut h, &["GET", "missing"]), "_\r\n", "RESP3 null");
    assert_eq!(ask_text(&mut h, &["AUTH", "default", "s3cret"]), "+OK\r\n");

    // QUIT needs no authentication.
    let mut q = resp_client(&server);
    assert_eq!(ask_text(&mut q, &["QUIT"]), "+OK\r\n");
    assert!(q.closed());
}

#[test]
fn requirepass_on_the_line_protocol() {
    let server = TestServer::start(&["--requirepass", "s3cret"]);
    let mut c = server.connect();
    assert_eq!(c.ask(b"PING\n"), b"PONG\n", "the seed's health check needs no password");
    assert_eq!(c.ask(b"GET k\n"), b"ERROR authentication required\n");
    assert_eq!(c.ask(b"PUT k v\n"), b"ERROR authentication required\n");
    assert_eq!(c.ask(b"DEL k\n"), b"ERROR authentication required\n");
    assert_eq!(c.ask(b"STATS\n"), b"ERROR authentication required\n");
    assert_eq!(c.ask(b"AUTH wrong\n"), b"ERROR invalid password\n");
    assert_eq!(c.ask(b"AUTH default wrong\n"), b"ERROR invalid password\n");
    assert_eq!(c.ask(b"AUTH\n"), b"ERROR wrong number of arguments\n");
    assert_eq!(c.ask(b"AUTH a b c\n"), b"ERROR wrong number of arguments\n");
    assert_eq!(c.ask(b"GET k\n"), b"ERROR authentication required\n");
    assert_eq!(c.ask(b"AUTH s3cret\r\n"), b"OK\n");
    assert_eq!(c.ask(b"PUT k v\n"), b"OK\n");
    assert_eq!(c.ask(b"GET k\n"), b"v\n");
    let mut d = server.connect();
    assert_eq!(d.ask(b"auth default s3cret\n"), b"OK\n");
    assert_eq!(d.ask(b"GET k\n"), b"v\n");
    // QUIT needs none either.
    let mut q = server.connect();
    q.send(b"QUIT\n");
    assert!(q.closed());
}

#[test]
fn without_a_password_everything_works_as_before() {
    let server = TestServer::start(&[]);
    let mut line = server.connect();
    assert_eq!(line.ask(b"PUT k v\n"), b"OK\n");
    assert_eq!(line.ask(b"GET k\n"), b"v\n");
    assert_eq!(line.ask(b"AUTH x\n"), b"ERROR no password is set\n");
    let mut c = resp_client(&server);
    assert_eq!(ask_text(&mut c, &["AUTH", "x"]), NO_PASSWORD);
    // The default user takes any password in the two-argument form (Redis).
    assert_eq!(ask_text(&mut c, &["AUTH", "default", "x"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["AUTH", "nobody", "x"]), WRONGPASS);
    assert_eq!(ask_text(&mut c, &["HELLO", "2", "AUTH", "default", "x"]).get(..4), Some("*14\r"));
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), "$7\r\ndefault\r\n");
    let default = "user default on nopass ~* &* +@all";
    assert_eq!(ask_text(&mut c, &["ACL", "LIST"]), format!("*1\r\n{}", bulk(default)));
    assert_eq!(
        ask_text(&mut c, &["ACL", "LOAD"]),
        "-ERR This Redis instance is not configured to use an ACL file. You may want to specify \
         users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a \
         Redis configuration file set) in order to store users in the Redis configuration.\r\n"
    );
    assert_eq!(ask_text(&mut c, &["FLUSHALL"]), "+OK\r\n");
}

const USERS: &str = "\
user default on >adminpw ~* &* +@all
user reader on >readpw ~cache:* ~[ab] -@all +@read
user writer on >writepw allkeys +@all -@dangerous
user sleeper off >pw allkeys +@all
";

#[test]
fn acl_users_categories_and_key_patterns() {
    let (server, _) = acl_server("users", USERS, &[]);
    let mut c = resp_client(&server);
    assert_eq!(ask_text(&mut c, &["GET", "k"]), NOAUTH, "the default user has a password");
    assert_eq!(ask_text(&mut c, &["AUTH", "sleeper", "pw"]), WRONGPASS, "off");
    assert_eq!(ask_text(&mut c, &["AUTH", "reader", "wrong"]), WRONGPASS);
    auth(&mut c, "reader", "readpw");
    assert_eq!(ask_text(&mut c, &["GET", "cache:1"]), "$-1\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "a"]), "$-1\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "c"]), NOPERM_KEY);
    assert_eq!(ask_text(&mut c, &["GET", "other"]), NOPERM_KEY);
    assert_eq!(ask_text(&mut c, &["MGET", "cache:1", "a", "other"]), NOPERM_KEY);
    assert_eq!(ask_text(&mut c, &["MGET", "cache:1", "b"]), "*2\r\n$-1\r\n$-1\r\n");
    assert_eq!(ask_text(&mut c, &["EXISTS", "cache:1", "nope"]), NOPERM_KEY);
    assert_eq!(ask_text(&mut c, &["SET", "cache:1", "v"]), noperm("set"));
    assert_eq!(ask_text(&mut c, &["DEL", "cache:1"]), noperm("del"));
    assert_eq!(ask_text(&mut c, &["FLUSHALL"]), noperm("flushall"));
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), noperm("acl"));
    assert_eq!(ask_text(&mut c, &["PING"]), noperm("ping"), "-@all +@read has no @connection");

    let mut w = resp_client(&server);
    auth(&mut w, "writer", "writepw");
    assert_eq!(ask_text(&mut w, &["MSET", "cache:1", "x", "zz", "y"]), "+OK\r\n");
    assert_eq!(ask_text(&mut w, &["FLUSHALL"]), noperm("flushall"));
    assert_eq!(ask_text(&mut w, &["CONFIG", "GET", "maxmemory"]), noperm("config"));
    assert_eq!(ask_text(&mut w, &["INFO"]), noperm("info"));
    assert_eq!(ask_text(&mut c, &["GET", "cache:1"]), "$1\r\nx\r\n");

    // The line protocol: one ERROR line saying why.
    let mut line = server.connect();
    assert_eq!(line.ask(b"AUTH reader wrong\n"), b"ERROR invalid password\n");
    assert_eq!(line.ask(b"AUTH reader readpw\n"), b"OK\n");
    assert_eq!(line.ask(b"GET cache:1\n"), b"x\n");
    assert_eq!(line.ask(b"GET zz\n"), b"ERROR no permission to access this key\n");
    assert_eq!(line.ask(b"PUT cache:1 v\n"), b"ERROR no permission to run this command\n");
    assert_eq!(line.ask(b"STATS\n"), b"ERROR no permission to run this command\n");
    assert_eq!(line.ask(b"PING\n"), b"PONG\n");

    let info = {
        let mut admin = resp_client(&server);
        auth(&mut admin, "default", "adminpw");
        ask_text(&mut admin, &["INFO", "stats"])
    };
    assert!(info.contains("acl_access_denied_auth:3\r\n"), "{info}");
    assert!(info.contains("acl_access_denied_key:5\r\n"), "{info}");
    assert!(info.contains("acl_access_denied_cmd:10\r\n"), "{info}");
}

#[test]
fn acl_subcommands_answer_as_redis() {
    let (server, path) = acl_server("subcommands", USERS, &[]);
    let mut c = resp_client(&server);
    auth(&mut c, "default", "adminpw");
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), "$7\r\ndefault\r\n");
    assert_eq!(
        ask_text(&mut c, &["ACL", "USERS"]),
        "*4\r\n$7\r\ndefault\r\n$6\r\nreader\r\n$7\r\nsleeper\r\n$6\r\nwriter\r\n"
    );
    let hash = |p: &str| capkv::acl::Digest::of(p.as_bytes()).hex();
    let list = [
        format!("user default on #{} ~* &* +@all", hash("adminpw")),
        format!("user reader on #{} ~cache:* ~[ab] resetchannels -@all +@read", hash("readpw")),
        format!("user sleeper off #{} ~* resetchannels +@all", hash("pw")),
        format!("user writer on #{} ~* resetchannels +@all -@dangerous", hash("writepw")),
    ];
    let mut expected = format!("*{}\r\n", list.len());
    for line in &list {
        expected.push_str(&format!("${}\r\n{line}\r\n", line.len()));
    }
    assert_eq!(ask_text(&mut c, &["ACL", "LIST"]), expected);
    assert_eq!(
        ask_text(&mut c, &["ACL", "CAT"]),
        "*8\r\n$8\r\nkeyspace\r\n$4\r\nread\r\n$5\r\nwrite\r\n$5\r\nadmin\r\n$4\r\nfast\r\n\
         $9\r\ndangerous\r\n$10\r\nconnection\r\n$11\r\ntransaction\r\n"
    );
    let dangerous = ask_text(&mut c, &["ACL", "CAT", "DANGEROUS"]);
    for name in ["flushall", "flushdb", "config", "info", "acl"] {
        assert!(dangerous.contains(&format!("\r\n{name}\r\n")), "{name} in {dangerous}");
    }
    assert!(!dangerous.contains("\r\nget\r\n"));
    assert_eq!(ask_text(&mut c, &["ACL", "CAT", "nosuch"]), "-ERR Unknown category 'nosuch'\r\n");
    let dry = |c: &mut Client, args: &[&str]| {
        let mut all = vec!["ACL", "DRYRUN"];
        all.extend_from_slice(args);
        ask_text(c, &all)
    };
    assert_eq!(dry(&mut c, &["reader", "get", "cache:1"]), "+OK\r\n");
    assert_eq!(
        dry(&mut c, &["reader", "set", "cache:1", "v"]),
        bulk("This user has no permissions to run the 'set' command")
    );
    assert_eq!(
        dry(&mut c, &["reader", "mget", "a", "nope"]),
        bulk("This user has no permissions to access the 'nope' key")
    );
    assert_eq!(dry(&mut c, &["nobody", "get", "x"]), "-ERR User 'nobody' not found\r\n");
    assert_eq!(dry(&mut c, &["reader", "frob"]), "-ERR Command 'frob' not found\r\n");
    assert_eq!(
        dry(&mut c, &["reader"]),
        "-ERR wrong number of arguments for 'acl|dryrun' command\r\n"
    );
    assert_eq!(
        dry(&mut c, &["reader", "get", "a", "b"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    let help = ask_text(&mut c, &["ACL", "HELP"]);
    assert!(
        help.starts_with(
            "*16\r\n+ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
        ),
        "{help}"
    );
    assert!(help.ends_with("+HELP\r\n+    Print this help.\r\n"));
    assert_eq!(
        ask_text(&mut c, &["ACL", "SETUSER", "x"]),
        "-ERR unknown subcommand 'SETUSER'. Try ACL HELP.\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["ACL", "WHOAMI", "x"]),
        "-ERR wrong number of arguments for 'acl|whoami' command\r\n"
    );

    // ACL LOAD re-reads the file; sessions carry on as their user's new
    // definition.
    let mut r = resp_client(&server);
    auth(&mut r, "reader", "readpw");
    std::fs::write(&path, USERS.replace(">readpw ~cache:* ~[ab]", ">newpw ~*")).unwrap();
    assert_eq!(ask_text(&mut c, &["ACL", "LOAD"]), "+OK\r\n");
    assert_eq!(ask_text(&mut r, &["GET", "other"]), "$-1\r\n", "the new patterns apply");
    let mut n = resp_client(&server);
    assert_eq!(ask_text(&mut n, &["AUTH", "reader", "readpw"]), WRONGPASS);
    auth(&mut n, "reader", "newpw");
    // A bad file is refused whole, and the rules in force stay.
    std::fs::write(&path, "user reader on >x\nuser broken +nosuch\n").unwrap();
    let error = ask_text(&mut c, &["ACL", "LOAD"]);
    assert!(
        error.starts_with("-ERR ")
            && error.contains("users.acl:2: Error in rule '+nosuch': Unknown command or category"),
        "{error}"
    );
    auth(&mut n, "reader", "newpw");
    // A user the reload removes is logged out.
    std::fs::write(&path, "user default on >adminpw ~* +@all\n").unwrap();
    assert_eq!(ask_text(&mut c, &["ACL", "LOAD"]), "+OK\r\n");
    assert_eq!(ask_text(&mut n, &["GET", "k"]), NOAUTH);
    assert_eq!(ask_text(&mut c, &["ACL", "USERS"]), "*1\r\n$7\r\ndefault\r\n");
}

/// One valid request per registry family, and the keys it names: every
/// family must have one here, so a new command fails this test until it
/// is added (and its keys, if any, are reported by `Command::keys`).
fn sample(name: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match name {
        "get" => (&["GET", "k1"], &["k1"]),
        "set" => (&["SET", "k1", "v"], &["k1"]),
        "del" => (&["DEL", "k1", "k2"], &["k1", "k2"]),
        "getdel" => (&["GETDEL", "k1"], &["k1"]),
        "getex" => (&["GETEX", "k1", "PX", "100"], &["k1"]),
        "exists" => (&["EXISTS", "k1", "k2"], &["k1", "k2"]),
        "expire" => (&["EXPIRE", "k1", "100"], &["k1"]),
        "persist" => (&["PERSIST", "k1"], &["k1"]),
        "ttl" => (&["TTL", "k1"], &["k1"]),
        "mget" => (&["MGET", "k1", "k2", "k3"], &["k1", "k2", "k3"]),
        "mset" => (&["MSET", "k1", "v1", "k2", "v2"], &["k1", "k2"]),
        "incrby" => (&["INCRBY", "n1", "2"], &["n1"]),
        "append" => (&["APPEND", "k1", "x"], &["k1"]),
        "strlen" => (&["STRLEN", "k1"], &["k1"]),
        "getrange" => (&["GETRANGE", "k1", "0", "-1"], &["k1"]),
        "setrange" => (&["SETRANGE", "k1", "0", "x"], &["k1"]),
        "getset" => (&["GETSET", "k1", "v"], &["k1"]),
        "msetnx" => (&["MSETNX", "k1", "v1", "k2", "v2"], &["k1", "k2"]),
        "incrbyfloat" => (&["INCRBYFLOAT", "n1", "1.5"], &["n1"]),
        "lcs" => (&["LCS", "k1", "k2"], &["k1", "k2"]),
        "setbit" => (&["SETBIT", "k1", "7", "1"], &["k1"]),
        "getbit" => (&["GETBIT", "k1", "7"], &["k1"]),
        "bitcount" => (&["BITCOUNT", "k1"], &["k1"]),
        "bitpos" => (&["BITPOS", "k1", "1"], &["k1"]),
        "bitop" => (&["BITOP", "AND", "k1", "k2"], &["k1", "k2"]),
        "dbsize" => (&["DBSIZE"], &[]),
        "flushall" => (&["FLUSHALL"], &[]),
        "ping" => (&["PING"], &[]),
        "echo" => (&["ECHO", "x"], &[]),
        "select" => (&["SELECT", "0"], &[]),
        "quit" => (&["QUIT"], &[]),
        "info" => (&["INFO"], &[]),
        "config" => (&["CONFIG", "GET", "maxmemory"], &[]),
        "slowlog" => (&["SLOWLOG", "LEN"], &[]),
        "command" => (&["COMMAND", "COUNT"], &[]),
        "client" => (&["CLIENT", "ID"], &[]),
        "hello" => (&["HELLO", "2"], &[]),
        "auth" => (&["AUTH", "r", "pw"], &[]),
        "acl" => (&["ACL", "WHOAMI"], &[]),
        "type" => (&["TYPE", "k1"], &["k1"]),
        "touch" => (&["TOUCH", "k1", "k2"], &["k1", "k2"]),
        "expiretime" => (&["EXPIRETIME", "k1"], &["k1"]),
        "time" => (&["TIME"], &[]),
        "randomkey" => (&["RANDOMKEY"], &[]),
        "rename" => (&["RENAME", "k1", "k2"], &["k1", "k2"]),
        "renamenx" => (&["RENAMENX", "k1", "k2"], &["k1", "k2"]),
        "copy" => (&["COPY", "k1", "k2"], &["k1", "k2"]),
        "keys" => (&["KEYS", "*"], &[]),
        "scan" => (&["SCAN", "0"], &[]),
        "object" => (&["OBJECT", "ENCODING", "k1"], &["k1"]),
        "memory" => (&["MEMORY", "USAGE", "k1"], &["k1"]),
        "multi" => (&["MULTI"], &[]),
        "exec" => (&["EXEC"], &[]),
        "discard" => (&["DISCARD"], &[]),
        "watch" => (&["WATCH", "k1", "k2"], &["k1", "k2"]),
        "unwatch" => (&["UNWATCH"], &[]),
        other => panic!("no sample request for '{other}': add one to tests/auth.rs"),
    }
}

fn flags_of(id: CommandId) -> Flags {
    id.spec().flags
}

#[test]
fn every_registry_entry_has_a_category_and_reports_its_keys() {
    let any = capkv::acl::CATEGORIES.iter().fold(Flags::NONE, |all, (_, f)| all.union(*f));
    for &id in CommandId::ALL {
        let spec = id.spec();
        assert!(
            spec.flags.intersects(any),
            "'{}' has no flag behind an ACL category (only @all would name it)",
            spec.name
        );
        let (args, keys) = sample(spec.name);
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut request = Vec::new();
        capkv::protocol::encode_command(&bytes, &mut request);
        let Parsed::Command { command, .. } = resp::parse(&request, &Limits::default()) else {
            panic!("sample of '{}' does not parse", spec.name);
        };
        assert_eq!(command.id(), id, "sample of '{}'", spec.name);
        let reported: Vec<&[u8]> = command.keys().collect();
        let expected: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        assert_eq!(reported, expected, "keys of '{}'", spec.name);
    }
    assert_eq!(REGISTRY.len(), CommandId::ALL.len());
}

#[test]
fn a_read_only_user_runs_exactly_the_read_commands() {
    let (server, _) = acl_server("readonly", "user r on >pw ~* -@all +@read\n", &[]);
    for &id in CommandId::ALL {
        let spec = id.spec();
        let (args, _) = sample(spec.name);
        let mut c = resp_client(&server);
        auth(&mut c, "r", "pw");
        let reply = ask_text(&mut c, args);
        let denied = reply == noperm(spec.name);
        let allowed = flags_of(id).contains(Flags::READ) || flags_of(id).contains(Flags::NO_AUTH);
        assert_eq!(!denied, allowed, "'{}' answered {reply:?}", spec.name);
    }
    // The same set, as ACL CAT names it, is what the user may run.
    let (admin, _) = acl_server("readonly-cat", "user default on nopass ~* +@all\n", &[]);
    let mut c = resp_client(&admin);
    let cat = ask_text(&mut c, &["ACL", "CAT", "read"]);
    for &id in CommandId::ALL {
        let listed = cat.contains(&format!("\r\n{}\r\n", id.name()));
        assert_eq!(listed, flags_of(id).contains(Flags::READ), "{} in ACL CAT read", id.name());
    }
}

#[test]
fn key_patterns_cover_every_command_with_keys() {
    let (server, _) = acl_server("keys", "user default on nopass ~allowed* +@all\n", &[]);
    for &id in CommandId::ALL {
        let (args, keys) = sample(id.name());
        if keys.is_empty() || id == CommandId::Quit {
            continue;
        }
        let mut c = resp_client(&server);
        assert_eq!(ask_text(&mut c, args), NOPERM_KEY, "'{}'", id.name());
    }
    let mut c = resp_client(&server);
    assert_eq!(ask_text(&mut c, &["SET", "allowed:1", "v"]), "+OK\r\n");
    assert_eq!(ask_text(&mut c, &["MSET", "allowed:1", "notakey", "allowed:2", "x"]), "+OK\r\n");
}

#[test]
fn deny_dangerous_refuses_every_dangerous_command() {
    let server = TestServer::start(&["--deny-dangerous"]);
    let mut dangerous = 0;
    for &id in CommandId::ALL {
        let (args, _) = sample(id.name());
        if id == CommandId::Quit {
            continue;
        }
        let mut c = resp_client(&server);
        let reply = ask_text(&mut c, args);
        if flags_of(id).contains(Flags::DANGEROUS) {
            dangerous += 1;
            assert_eq!(reply, noperm(id.name()), "'{}'", id.name());
        } else {
            assert!(
                !reply.starts_with("-NOPERM") && !reply.starts_with("-NOAUTH"),
                "'{}' answered {reply:?}",
                id.name()
            );
        }
    }
    assert!(dangerous >= 4, "FLUSHALL, CONFIG, INFO, ACL at least");
    let mut c = resp_client(&server);
    assert_eq!(ask_text(&mut c, &["FLUSHDB"]), noperm("flushall"));
    let mut line = server.connect();
    assert_eq!(line.ask(b"PUT k v\n"), b"OK\n", "no password needed");
    assert_eq!(line.ask(b"STATS\n"), b"ERROR no permission to run this command\n");
    // Even a user with +@all in an ACL file.
    let (acl, _) = acl_server("deny", "user default on nopass ~* +@all\n", &["--deny-dangerous"]);
    let mut c = resp_client(&acl);
    assert_eq!(ask_text(&mut c, &["FLUSHALL"]), noperm("flushall"));
    assert_eq!(ask_text(&mut c, &["ACL", "WHOAMI"]), noperm("acl"));
}

#[test]
fn auth_failures_reach_the_metrics() {
    let server = TestServer::start_with_metrics(&["--requirepass", "pw"]);
    let mut c = resp_client(&server);
    for _ in 0..3 {
        assert_eq!(ask_text(&mut c, &["AUTH", "nope"]), WRONGPASS);
    }
    let (status, body) = http_get(server.metrics.unwrap(), "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("capkv_auth_failures_total 3\n"), "{body}");
    assert!(body.contains("capkv_acl_denied_total{reason=\"command\"} 0\n"), "{body}");
}

#[test]
fn a_bad_acl_file_refuses_start_up_with_file_line_and_reason() {
    let path = scratch("bad").join("users.acl");
    std::fs::write(&path, "user a on >x ~*\nuser b on +@nosuch\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0"])
        .args(["--aclfile", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "capkv: --aclfile: {}:2: Error in rule '+@nosuch': Unknown command or category name in ACL",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args(["--port", "0", "--metrics-port", "0", "--requirepass", "a", "--aclfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exclude each other"));
}

#[test]
fn sighup_rereads_the_password_file() {
    let path = scratch("sighup").join("password");
    std::fs::write(&path, "old-password\n").unwrap();
    let mut server = BinaryServer::start(&["--requirepass-file", path.to_str().unwrap()]);
    let mut c = Client::connect(server.addr);
    assert_eq!(ask_text(&mut c, &["AUTH", "old-password"]), "+OK\r\n", "newline stripped");
    // Kubernetes swaps a Secret's file by renaming a new one into place.
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, "new-password\n").unwrap();
    std::fs::rename(&fresh, &path).unwrap();
    server.signal("-HUP");
    let accepted = |password: &str| {
        let mut probe = Client::connect(server.addr);
        ask_text(&mut probe, &["AUTH", password]) == "+OK\r\n"
    };
    assert!(eventually(Duration::from_secs(10), || accepted("new-password")));
    assert!(!accepted("old-password"));
    assert_eq!(ask_text(&mut c, &["PING"]), "+PONG\r\n", "sessions stay authenticated");
    // A failed re-read logs an error and keeps the password in force.
    std::fs::remove_file(&path).unwrap();
    server.signal("-HUP");
    let log = server.log.clone();
    assert!(eventually(Duration::from_secs(10), || log.lock().unwrap().contains("reload failed")));
    assert!(accepted("new-password"));
    assert!(!log.lock().unwrap().contains("new-password"), "the log never shows a password");
    assert_eq!(server.wait(Duration::from_millis(100)), None, "SIGHUP does not stop the server");
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)).is_some_and(|s| s.success()));
}

#[test]
fn pipelined_requests_before_and_after_auth() {
    let server = TestServer::start(&["--requirepass", "pw"]);
    let mut c = resp_client(&server);
    let mut request = Vec::new();
    for args in [&["GET", "k"][..], &["AUTH", "pw"], &["SET", "k", "v"], &["GET", "k"]] {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        capkv::protocol::encode_command(&bytes, &mut request);
    }
    c.send(&request);
    let replies: Vec<String> =
        (0..4).map(|_| String::from_utf8_lossy(&read_reply(&mut c)).into_owned()).collect();
    assert_eq!(replies, [NOAUTH, "+OK\r\n", "+OK\r\n", "$1\r\nv\r\n"]);
}

#[test]
fn sighup_rereads_the_acl_file() {
    let path = scratch("sighup-acl").join("users.acl");
    std::fs::write(&path, "user default on nopass ~* +@all\nuser app on >one ~* +@all\n").unwrap();
    let server = BinaryServer::start(&["--aclfile", path.to_str().unwrap()]);
    let mut c = Client::connect(server.addr);
    assert_eq!(ask_text(&mut c, &["SET", "k", "v"]), "+OK\r\n", "default is nopass");
    auth(&mut c, "app", "one");
    std::fs::write(&path, "user default off\nuser app on >two ~k* -@all +@read\n").unwrap();
    server.signal("-HUP");
    let mut probe = Client::connect(server.addr);
    assert!(eventually(Duration::from_secs(10), || {
        ask_text(&mut probe, &["AUTH", "app", "two"]) == "+OK\r\n"
    }));
    assert_eq!(ask_text(&mut probe, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(
        ask_text(&mut c, &["SET", "k", "w"]),
        noperm("set"),
        "the session took the new rules"
    );
    let mut anonymous = Client::connect(server.addr);
    assert_eq!(ask_text(&mut anonymous, &["GET", "k"]), NOAUTH, "default is off now");
}
