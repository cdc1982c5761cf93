use super::*;
use crate::protocol::{Args, SetOptions};

fn users(text: &str) -> Result<Vec<User>, AclError> {
    parse_users("users.acl", text.as_bytes())
}

fn one(rules: &str) -> User {
    let mut list = users(&format!("user alice {rules}")).unwrap();
    list.pop().unwrap()
}

fn error(text: &str) -> String {
    users(text).unwrap_err().to_string()
}

#[test]
fn parses_users_and_rules() {
    let list = users(
        "# comment\n\nuser alice on >secret ~cache:* +@read -strlen\n  user bob off nopass allkeys allcommands -@dangerous  \r\n",
    )
    .unwrap();
    assert_eq!(list.len(), 2);
    let alice = &list[0];
    assert_eq!(&*alice.name, b"alice");
    assert!(alice.enabled && !alice.nopass);
    assert_eq!(alice.passwords, vec![Digest::of(b"secret")]);
    assert_eq!(alice.patterns, vec![b"cache:*".as_slice().into()]);
    assert!(alice.commands.contains(CommandId::Get));
    assert!(!alice.commands.contains(CommandId::StrLen));
    assert!(!alice.commands.contains(CommandId::Set));
    let bob = &list[1];
    assert!(!bob.enabled && bob.nopass && bob.all_keys);
    assert!(bob.commands.contains(CommandId::Set));
    assert!(!bob.commands.contains(CommandId::FlushAll));
    assert!(!bob.commands.contains(CommandId::Config));
}

#[test]
fn errors_name_file_line_and_reason() {
    assert_eq!(
        error("user a on\nuser b +nosuch\n"),
        "users.acl:2: Error in rule '+nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(
        error("\n\nuser a +@nosuch"),
        "users.acl:3: Error in rule '+@nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(
        error("users a on"),
        "users.acl:1: should start with user keyword followed by the username"
    );
    assert_eq!(
        error("user"),
        "users.acl:1: should start with user keyword followed by the username"
    );
    assert_eq!(error("user a on\nuser a off"), "users.acl:2: Duplicate user 'a' found");
    assert!(error("user a #abc").contains("exactly 64 characters"));
    assert!(
        error("user a allkeys ~x")
            .starts_with("users.acl:1: Error in rule '~x': Adding a pattern after the * pattern")
    );
    assert!(error("user a <nope").contains("does not exist"));
    assert!(error("user a %R~x").contains("not supported"));
    assert!(error("user a &chan").contains("not supported"));
    assert!(error("user a (+get ~x)").contains("selectors are not supported"));
    assert!(error("user a +config|get").contains("subcommand rules are not supported"));
    assert!(error("user a bogus").ends_with("Error in rule 'bogus': Syntax error"));
    assert!(error("user a\0b on").contains("invalid characters"));
}

#[test]
fn rules_apply_in_order() {
    let u = one(">a >b <a");
    assert_eq!(u.passwords, vec![Digest::of(b"b")]);
    let u = one(">a nopass");
    assert!(u.nopass && u.passwords.is_empty());
    let u = one("nopass >a");
    assert!(!u.nopass);
    let u = one("on >a ~x allkeys +@all reset");
    assert!(!u.enabled && !u.nopass && u.passwords.is_empty() && !u.all_keys);
    assert_eq!(u.commands, CommandSet::default());
    let u = one("~a ~a ~b resetkeys ~c");
    assert_eq!(u.patterns, vec![b"c".as_slice().into()]);
    // Family members name their family.
    let u = one("+unlink +INCR");
    assert!(u.commands.contains(CommandId::Del));
    assert!(u.commands.contains(CommandId::IncrBy));
    let hash = Digest::of(b"pw").hex();
    let u = one(&format!("#{hash} !{hash}"));
    assert!(u.passwords.is_empty());
}

#[test]
fn passwords_authenticate_enabled_users_only() {
    let u = one("on >secret");
    assert!(u.accepts(b"secret"));
    assert!(!u.accepts(b"Secret"));
    assert!(!one("off >secret").accepts(b"secret"));
    assert!(one("on nopass").accepts(b"anything"));
    assert!(!one("on").accepts(b""), "no password: nothing authenticates");
}

#[test]
fn checks_commands_and_keys() {
    let u = one("on nopass ~user:* ~[ab] -@all +@read");
    let get = |key: &'static [u8]| Command::Get { key };
    assert_eq!(u.check(&get(b"user:1")), Ok(()));
    assert_eq!(u.check(&get(b"a")), Ok(()));
    assert_eq!(u.check(&get(b"c")), Err(CommandError::NoPermKey));
    let set = Command::Set { key: b"user:1", value: b"v", options: SetOptions::default() };
    assert_eq!(u.check(&set), Err(CommandError::NoPermCommand { command: "set" }));
    // AUTH, HELLO and QUIT are never refused.
    assert_eq!(u.check(&Command::Quit), Ok(()));
    assert_eq!(u.check(&Command::Auth { username: None, password: b"x" }), Ok(()));
    // Every key of a multi-key command is checked.
    let w = one("on nopass ~k* +@all");
    let mset = |raw: &'static [u8]| Command::MSet { pairs: Args::resp(raw, 4) };
    assert_eq!(w.check(&mset(b"$2\r\nk1\r\n$1\r\nx\r\n$2\r\nk2\r\n$1\r\ny\r\n")), Ok(()));
    assert_eq!(
        w.check(&mset(b"$2\r\nk1\r\n$2\r\nzz\r\n$2\r\nzz\r\n$1\r\ny\r\n")),
        Err(CommandError::NoPermKey),
        "the third argument is a key"
    );
    // The value is not.
    assert_eq!(w.check(&mset(b"$2\r\nk1\r\n$2\r\nzz\r\n$2\r\nk2\r\n$1\r\ny\r\n")), Ok(()));
}

#[test]
fn describes_users_as_redis_acl_list_does() {
    assert_eq!(User::default_user().describe(), "on nopass ~* &* +@all");
    let hash = Digest::of(b"pw").hex();
    assert_eq!(password_user(b"pw").describe(), format!("on #{hash} ~* &* +@all"));
    assert_eq!(one("").describe(), "off resetchannels -@all");
    assert_eq!(one("on nopass ~a* +@read").describe(), "on nopass ~a* resetchannels -@all +@read");
    assert_eq!(
        one("on nopass allkeys +@all -@dangerous").describe(),
        "on nopass ~* resetchannels +@all -@dangerous"
    );
    assert_eq!(one("+get").describe(), "off resetchannels -@all +get");
    // Whatever the rules, the description rebuilds the same set.
    for rules in [
        "+@read -get +set",
        "+@all -@write +del",
        "+@fast -@read +@keyspace",
        "-@all +@admin -info",
    ] {
        let user = one(rules);
        let again = one(&user.describe()["off resetchannels ".len()..]);
        assert_eq!(again.commands, user.commands, "{rules} -> {}", user.describe());
    }
}

#[test]
fn every_category_has_commands_and_every_command_a_category() {
    for (name, flags) in CATEGORIES {
        assert!(CommandSet::with_flags(*flags) != CommandSet::default(), "@{name} is empty");
    }
    let any = CATEGORIES.iter().fold(Flags::NONE, |all, (_, f)| all.union(*f));
    for id in CommandId::ALL {
        assert!(id.spec().flags.intersects(any), "{} is in no ACL category but @all", id.name());
    }
}

#[test]
fn access_from_flags() {
    let open = Access::load(&AuthConfig::default()).unwrap();
    assert!(!open.enforced());
    assert!(open.default_is_nopass());
    let config = AuthConfig { requirepass: Some("pw".into()), ..AuthConfig::default() };
    let access = Access::load(&config).unwrap();
    assert!(access.enforced());
    assert!(access.authenticate(None, b"pw").is_some());
    assert!(access.authenticate(Some(b"default"), b"pw").is_some());
    assert!(access.authenticate(None, b"wrong").is_none());
    assert!(access.authenticate(Some(b"nobody"), b"pw").is_none());
    let both = AuthConfig {
        requirepass: Some("pw".into()),
        aclfile: Some("x".into()),
        ..AuthConfig::default()
    };
    assert_eq!(Access::load(&both).unwrap_err(), AclError::Conflict);
    let empty = AuthConfig { requirepass: Some(String::new()), ..AuthConfig::default() };
    assert_eq!(Access::load(&empty).unwrap_err(), AclError::EmptyPassword);
    let dangerous = AuthConfig { deny_dangerous: true, ..AuthConfig::default() };
    let access = Access::load(&dangerous).unwrap();
    assert!(access.enforced());
    let mut user = None;
    assert_eq!(
        access.authorize(&mut user, false, &Command::FlushAll),
        Err(CommandError::NoPermCommand { command: "flushall" })
    );
    assert_eq!(access.authorize(&mut user, false, &Command::DbSize), Ok(()));
}

#[test]
fn unauthenticated_sessions() {
    let config = AuthConfig { requirepass: Some("pw".into()), ..AuthConfig::default() };
    let access = Access::load(&config).unwrap();
    let mut user = None;
    assert_eq!(access.authorize(&mut user, false, &Command::DbSize), Err(CommandError::NoAuth));
    assert_eq!(access.authorize(&mut user, false, &Command::Quit), Ok(()));
    let ping = Command::Ping { message: None };
    assert_eq!(access.authorize(&mut user, false, &ping), Err(CommandError::NoAuth));
    assert_eq!(access.authorize(&mut user, true, &ping), Ok(()), "the line protocol's PING");
    user = access.authenticate(None, b"pw");
    assert_eq!(access.authorize(&mut user, false, &Command::DbSize), Ok(()));
}

#[test]
fn password_file_reload_keeps_sessions_and_old_password_on_error() {
    let dir = std::env::temp_dir().join(format!("capkv-acl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("password");
    std::fs::write(&path, "first\n").unwrap();
    let config = AuthConfig { requirepass_file: Some(path.clone()), ..AuthConfig::default() };
    let access = Access::load(&config).unwrap();
    let mut session = access.authenticate(None, b"first");
    assert!(session.is_some(), "one trailing newline is stripped");
    std::fs::write(&path, "second\r\n").unwrap();
    assert_eq!(access.reload(), Ok(true));
    assert!(access.authenticate(None, b"first").is_none());
    assert!(access.authenticate(None, b"second").is_some());
    assert!(session.as_ref().unwrap().is_replaced());
    assert_eq!(access.authorize(&mut session, false, &Command::DbSize), Ok(()));
    assert!(!session.as_ref().unwrap().is_replaced(), "now the new default user");
    std::fs::write(&path, "").unwrap();
    assert!(access.reload().unwrap_err().to_string().contains("empty"));
    assert!(access.authenticate(None, b"second").is_some(), "the old password stays");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_documented_example_file_loads() {
    let docs = include_str!("../../docs/OPERATIONS.md");
    let start = docs.find("# /etc/capkv/users.acl\n").expect("the example in docs/OPERATIONS.md");
    let example = &docs[start..];
    let example = &example[..example.find("```").unwrap()];
    let list = users(example).unwrap();
    let names: Vec<&[u8]> = list.iter().map(|u| &*u.name).collect();
    assert_eq!(names, [&b"default"[..], b"app", b"reader", b"ops", b"retired"]);
    assert!(list[0].accepts(b"test"));
    assert!(!list[1].commands.contains(CommandId::FlushAll));
}
