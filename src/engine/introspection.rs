//! `COMMAND`, `COMMAND INFO|DOCS|LIST|COUNT|GETKEYS|GETKEYSANDFLAGS|HELP`:
//! Redis 7.0.15's replies (server.c's `addReplyCommandInfo`,
//! `addReplyCommandDocs`, `commandListCommand`, `getKeysSubcommandImpl`)
//! over [`metadata`](crate::protocol::metadata), the generated table of
//! the commands capkv implements.
//!
//! Two deliberate differences from Redis:
//! - the ACL categories in COMMAND INFO are capkv's (the registry's flags,
//!   in Redis's category order), not Redis's, so that COMMAND INFO,
//!   `COMMAND LIST FILTERBY ACLCAT`, `ACL CAT` and ACL rules all agree; a
//!   subcommand shows its container's family's categories, which is what
//!   ACL rules apply to it;
//! - commands are listed in name order (Redis's is its hash table's).
//!
//! These replies run to tens of kilobytes, so each is encoded into a
//! scratch buffer first and takes its room in the output once.

use crate::acl::{CATEGORIES, category, command_by_name};
use crate::glob;
use crate::protocol::metadata::{self, Arg, BeginSearch, COMMANDS, CommandDoc, FindKeys, KeySpec};
use crate::protocol::{Args, CommandError, CommandSubcommand, Flags, Reply};

use super::Flow;
use super::context::{Ctx, help};
use super::output::{Output, Replies};

const HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

/// Runs `COMMAND [subcommand] args...`.
pub(super) fn command<O: Output + ?Sized>(
    subcommand: Option<CommandSubcommand>,
    args: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if subcommand == Some(CommandSubcommand::Help) {
        return Ok(help("COMMAND", HELP, ctx));
    }
    let mut scratch = Vec::new();
    let mut out = Replies::new(&mut scratch, ctx.session.dialect);
    match subcommand {
        None => info_all(&mut out),
        Some(CommandSubcommand::Info) if args.is_empty() => info_all(&mut out),
        Some(CommandSubcommand::Info) => {
            out.push(&Reply::Array(args.len()));
            for name in args.iter() {
                info(metadata::by_full_name(name), &mut out);
            }
        }
        Some(CommandSubcommand::Docs) => {
            let found: Vec<&CommandDoc> = if args.is_empty() {
                COMMANDS.iter().collect()
            } else {
                args.iter().filter_map(metadata::by_full_name).collect()
            };
            out.push(&Reply::Map(found.len()));
            for doc in found {
                out.push(&Reply::Bulk(doc.name.as_bytes()));
                docs(doc, &mut out);
            }
        }
        Some(CommandSubcommand::Count) => out.push(&Reply::Int(COMMANDS.len() as i64)),
        Some(CommandSubcommand::List) => list(args, &mut out)?,
        Some(CommandSubcommand::GetKeys) => get_keys(args, false, &mut out)?,
        Some(CommandSubcommand::GetKeysAndFlags) => get_keys(args, true, &mut out)?,
        Some(CommandSubcommand::Help) => unreachable!("answered above"),
    }
    if !ctx.out.try_room(scratch.len()) {
        return Ok(Flow::NeedRoom(scratch.len()));
    }
    ctx.out.push_encoded(&scratch);
    Ok(Flow::Continue)
}

type Out<'s> = Replies<'s, Vec<u8>>;

fn info_all(out: &mut Out<'_>) {
    out.push(&Reply::Array(COMMANDS.len()));
    for doc in COMMANDS {
        info(Some(doc), out);
    }
}

fn bulk(out: &mut Out<'_>, text: &str) {
    out.push(&Reply::Bulk(text.as_bytes()));
}

fn statuses(out: &mut Out<'_>, items: &[&str]) {
    out.push(&Reply::Set(items.len()));
    for item in items {
        out.push(&Reply::Status(item));
    }
}

/// capkv's flags for a command: its family's registry entry's (a
/// subcommand's container's family's).
fn family_flags(doc: &CommandDoc) -> Flags {
    let top = doc.name.split('|').next().unwrap_or(doc.name);
    command_by_name(doc.name.as_bytes())
        .or_else(|| command_by_name(top.as_bytes()))
        .map_or(Flags::NONE, |id| id.spec().flags)
}

/// `addReplyCommandInfo`: the 10-element array, or null.
fn info(doc: Option<&CommandDoc>, out: &mut Out<'_>) {
    let Some(doc) = doc else {
        out.push(&Reply::Nil);
        return;
    };
    out.push(&Reply::Array(10));
    bulk(out, doc.name);
    out.push(&Reply::Int(doc.arity.into()));
    statuses(out, doc.flags);
    out.push(&Reply::Int(doc.first_key.into()));
    out.push(&Reply::Int(doc.last_key.into()));
    out.push(&Reply::Int(doc.key_step.into()));
    let flags = family_flags(doc);
    let categories: Vec<String> = CATEGORIES
        .iter()
        .filter(|(_, f)| flags.contains(*f))
        .map(|(name, _)| format!("@{name}"))
        .collect();
    out.push(&Reply::Set(categories.len()));
    for c in &categories {
        out.push(&Reply::Status(c));
    }
    out.push(&Reply::Set(doc.tips.len()));
    for tip in doc.tips {
        bulk(out, tip);
    }
    key_specs(doc.key_specs, out);
    if doc.is_container() {
        out.push(&Reply::Array(doc.subcommands.len()));
        for sub in doc.subcommands {
            info(Some(sub), out);
        }
    } else {
        out.push(&Reply::Set(0));
    }
}

/// `addReplyCommandKeySpecs`.
fn key_specs(specs: &[KeySpec], out: &mut Out<'_>) {
    out.push(&Reply::Set(specs.len()));
    for spec in specs {
        out.push(&Reply::Map(3 + usize::from(spec.notes.is_some())));
        if let Some(notes) = spec.notes {
            bulk(out, "notes");
            bulk(out, notes);
        }
        bulk(out, "flags");
        statuses(out, spec.flags);
        bulk(out, "begin_search");
        out.push(&Reply::Map(2));
        bulk(out, "type");
        match spec.begin {
            BeginSearch::Index(index) => {
                bulk(out, "index");
                bulk(out, "spec");
                out.push(&Reply::Map(1));
                bulk(out, "index");
                out.push(&Reply::Int(index.into()));
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                bulk(out, "keyword");
                bulk(out, "spec");
                out.push(&Reply::Map(2));
                bulk(out, "keyword");
                bulk(out, keyword);
                bulk(out, "startfrom");
                out.push(&Reply::Int(startfrom.into()));
            }
            BeginSearch::Unknown => {
                bulk(out, "unknown");
                bulk(out, "spec");
                out.push(&Reply::Map(0));
            }
        }
        bulk(out, "find_keys");
        out.push(&Reply::Map(2));
        bulk(out, "type");
        match spec.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                bulk(out, "range");
                bulk(out, "spec");
                out.push(&Reply::Map(3));
                for (name, v) in [("lastkey", lastkey), ("keystep", keystep), ("limit", limit)] {
                    bulk(out, name);
                    out.push(&Reply::Int(v.into()));
                }
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                bulk(out, "keynum");
                bulk(out, "spec");
                out.push(&Reply::Map(3));
                for (name, v) in
                    [("keynumidx", keynumidx), ("firstkey", firstkey), ("keystep", keystep)]
                {
                    bulk(out, name);
                    out.push(&Reply::Int(v.into()));
                }
            }
            FindKeys::Unknown => {
                bulk(out, "unknown");
                bulk(out, "spec");
                out.push(&Reply::Map(0));
            }
        }
    }
}

/// `addReplyCommandDocs`.
fn docs(doc: &CommandDoc, out: &mut Out<'_>) {
    let present = [
        doc.summary.is_some(),
        doc.since.is_some(),
        true, // group
        doc.complexity.is_some(),
        !doc.doc_flags.is_empty(),
        doc.deprecated_since.is_some(),
        doc.replaced_by.is_some(),
        !doc.history.is_empty(),
        !doc.arguments.is_empty(),
        doc.is_container(),
    ];
    out.push(&Reply::Map(present.iter().filter(|&&p| p).count()));
    let pair = |out: &mut Out<'_>, name: &str, value: Option<&str>| {
        if let Some(value) = value {
            bulk(out, name);
            bulk(out, value);
        }
    };
    pair(out, "summary", doc.summary);
    pair(out, "since", doc.since);
    pair(out, "group", Some(doc.group));
    pair(out, "complexity", doc.complexity);
    if !doc.doc_flags.is_empty() {
        bulk(out, "doc_flags");
        statuses(out, doc.doc_flags);
    }
    pair(out, "deprecated_since", doc.deprecated_since);
    pair(out, "replaced_by", doc.replaced_by);
    if !doc.history.is_empty() {
        bulk(out, "history");
        out.push(&Reply::Set(doc.history.len()));
        for (since, change) in doc.history {
            out.push(&Reply::Array(2));
            bulk(out, since);
            bulk(out, change);
        }
    }
    if !doc.arguments.is_empty() {
        bulk(out, "arguments");
        arguments(doc.arguments, out);
    }
    if doc.is_container() {
        bulk(out, "subcommands");
        out.push(&Reply::Map(doc.subcommands.len()));
        for sub in doc.subcommands {
            bulk(out, sub.name);
            docs(sub, out);
        }
    }
}

/// `addReplyCommandArgList`.
fn arguments(args: &[Arg], out: &mut Out<'_>) {
    out.push(&Reply::Array(args.len()));
    for arg in args {
        let nested = matches!(arg.kind, "oneof" | "block");
        let len = 2
            + usize::from(arg.key_spec_index != -1)
            + usize::from(arg.token.is_some())
            + usize::from(arg.summary.is_some())
            + usize::from(arg.since.is_some())
            + usize::from(arg.deprecated_since.is_some())
            + usize::from(!arg.flags.is_empty())
            + usize::from(nested);
        out.push(&Reply::Map(len));
        bulk(out, "name");
        bulk(out, arg.name);
        bulk(out, "type");
        bulk(out, arg.kind);
        if arg.key_spec_index != -1 {
            bulk(out, "key_spec_index");
            out.push(&Reply::Int(arg.key_spec_index.into()));
        }
        for (name, value) in [
            ("token", arg.token),
            ("summary", arg.summary),
            ("since", arg.since),
            ("deprecated_since", arg.deprecated_since),
        ] {
            if let Some(value) = value {
                bulk(out, name);
                bulk(out, value);
            }
        }
        if !arg.flags.is_empty() {
            bulk(out, "flags");
            statuses(out, arg.flags);
        }
        if nested {
            bulk(out, "arguments");
            arguments(arg.arguments, out);
        }
    }
}

/// What `COMMAND LIST FILTERBY` keeps.
enum Filter<'a> {
    All,
    /// capkv has no modules: nothing.
    Module,
    /// A category's flag (`None`: no such category, nothing matches).
    AclCat(Option<Flags>),
    Pattern(&'a [u8]),
}

/// `commandListCommand`.
fn list(args: Args<'_>, out: &mut Out<'_>) -> Result<(), CommandError> {
    let args: Vec<&[u8]> = args.iter().collect();
    let mut filter = Filter::All;
    let mut i = 0;
    while i < args.len() {
        // Redis: FILTERBY must be followed by exactly two more arguments.
        if !(args[i].eq_ignore_ascii_case(b"filterby") && args.len() - 1 - i == 2) {
            return Err(CommandError::Syntax);
        }
        let (kind, arg) = (args[i + 1], args[i + 2]);
        filter = if kind.eq_ignore_ascii_case(b"module") {
            Filter::Module
        } else if kind.eq_ignore_ascii_case(b"aclcat") {
            Filter::AclCat(category(arg))
        } else if kind.eq_ignore_ascii_case(b"pattern") {
            Filter::Pattern(arg)
        } else {
            return Err(CommandError::Syntax);
        };
        i += 3;
    }
    let names: Vec<&str> = metadata::every()
        .filter(|doc| match filter {
            Filter::All => true,
            Filter::Module | Filter::AclCat(None) => false,
            Filter::AclCat(Some(flag)) => family_flags(doc).contains(flag),
            Filter::Pattern(pattern) => glob::matches(pattern, doc.name.as_bytes(), true),
        })
        .map(|doc| doc.name)
        .collect();
    out.push(&Reply::Array(names.len()));
    for name in names {
        bulk(out, name);
    }
    Ok(())
}

const fn fixed(text: &'static str) -> CommandError {
    CommandError::Fixed(text)
}

/// `getKeysSubcommandImpl`: the keys of the request in `args`, found with
/// its key specs (`getKeysUsingKeySpecs`).
fn get_keys(args: Args<'_>, with_flags: bool, out: &mut Out<'_>) -> Result<(), CommandError> {
    let argv: Vec<&[u8]> = args.iter().collect();
    let doc = metadata::for_request(&argv).ok_or(fixed("ERR Invalid command specified"))?;
    if !doc.key_specs.iter().any(|s| !s.flags.contains(&"not_key")) {
        return Err(fixed("ERR The command has no key arguments"));
    }
    if !doc.arity_allows(argv.len()) {
        return Err(fixed("ERR Invalid number of arguments specified for command"));
    }
    let keys = match find_keys(doc, &argv) {
        Some(keys) => keys,
        None if doc.has_flag("no_mandatory_keys") => Vec::new(),
        None => return Err(fixed("ERR Invalid arguments specified for command")),
    };
    out.push(&Reply::Array(keys.len()));
    for (pos, flags) in keys {
        if with_flags {
            out.push(&Reply::Array(2));
            out.push(&Reply::Bulk(argv[pos]));
            statuses(out, flags);
        } else {
            out.push(&Reply::Bulk(argv[pos]));
        }
    }
    Ok(())
}

/// The positions of the keys in `argv` with their flags; None when the
/// arguments do not fit the specs (Redis's `invalid_spec`).
fn find_keys(doc: &CommandDoc, argv: &[&[u8]]) -> Option<Vec<(usize, &'static [&'static str])>> {
    // SET's flags depend on GET (Redis's `setGetKeys`, which it prefers
    // over the spec marked `variable_flags`).
    if doc.name == "set" {
        let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
        let flags: &'static [&'static str] =
            if get { &["RW", "access", "update"] } else { &["OW", "update"] };
        return Some(vec![(1, flags)]);
    }
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in doc.key_specs {
        if spec.flags.contains(&"not_key") {
            continue;
        }
        let mut first: i64 = match spec.begin {
            BeginSearch::Index(pos) => pos.into(),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(startfrom);
                let (start, end) =
                    if startfrom > 0 { (startfrom, argc - 1) } else { (argc + startfrom, 1) };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, i64::from(keystep))
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                let at = first + i64::from(keynumidx);
                if i64::from(keynumidx) >= argc || at >= argc {
                    return None;
                }
                let numkeys: i64 = std::str::from_utf8(argv[at as usize]).ok()?.parse().ok()?;
                if numkeys < 0 {
                    return None;
                }
                first += i64::from(firstkey);
                (first + numkeys - 1, i64::from(keystep))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step.max(1);
        }
        if spec.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Dialect;

    fn keys_of(words: &[&str]) -> Option<Vec<String>> {
        let argv: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let doc = metadata::for_request(&argv)?;
        find_keys(doc, &argv)
            .map(|keys| keys.into_iter().map(|(i, _)| words[i].to_string()).collect())
    }

    #[test]
    fn keys_follow_the_specs() {
        assert_eq!(keys_of(&["get", "k"]).unwrap(), ["k"]);
        assert_eq!(keys_of(&["mset", "a", "1", "b", "2"]).unwrap(), ["a", "b"]);
        assert_eq!(keys_of(&["del", "a", "b", "c"]).unwrap(), ["a", "b", "c"]);
        assert_eq!(keys_of(&["bitop", "and", "d", "s1", "s2"]).unwrap(), ["d", "s1", "s2"]);
        assert_eq!(keys_of(&["lcs", "a", "b", "len"]).unwrap(), ["a", "b"]);
        assert_eq!(keys_of(&["memory", "usage", "k"]).unwrap(), ["k"]);
        assert_eq!(keys_of(&["object", "encoding", "k"]).unwrap(), ["k"]);
        assert_eq!(keys_of(&["copy", "a", "b", "replace"]).unwrap(), ["a", "b"]);
        // A spec that runs past the arguments is invalid.
        assert!(keys_of(&["lcs", "a"]).is_none());
    }

    #[test]
    fn set_flags_depend_on_get() {
        let argv: &[&[u8]] = &[b"set", b"k", b"v", b"GET"];
        let doc = metadata::for_request(argv).unwrap();
        assert_eq!(find_keys(doc, argv).unwrap(), [(1, &["RW", "access", "update"][..])]);
        let argv: &[&[u8]] = &[b"set", b"k", b"v", b"nx"];
        assert_eq!(find_keys(doc, argv).unwrap(), [(1, &["OW", "update"][..])]);
    }

    #[test]
    fn every_entry_encodes_in_both_resp_versions() {
        for dialect in [Dialect::Resp2, Dialect::Resp3] {
            let mut scratch = Vec::new();
            let mut out = Replies::new(&mut scratch, dialect);
            info_all(&mut out);
            for doc in COMMANDS {
                docs(doc, &mut out);
            }
            assert!(scratch.starts_with(format!("*{}\r\n", COMMANDS.len()).as_bytes()));
        }
    }
}
