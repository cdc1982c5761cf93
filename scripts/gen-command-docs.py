#!/usr/bin/env python3
"""Generates src/protocol/metadata_table.rs: Redis 7.0.15's command metadata
(COMMAND INFO / DOCS) for the commands capkv implements.

Usage: python3 scripts/gen-command-docs.py REDIS_SRC/src/commands [OUT]

Which commands: scripts/command-docs.list (one name a line, `container|sub`
for subcommands). A unit test in src/protocol/metadata.rs checks that list
against the command table, so add a name there when the parser learns a
command, then rerun this script.

What is computed as Redis computes it at startup (server.c):
- flags in `addReplyFlagsForCommand`'s order, hidden ones left out, plus
  `movablekeys` from `populateCommandLegacyRangeSpec`;
- the legacy (first, last, step) from the same function.
"""

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# addReplyFlagsForCommand's order; None: hidden on purpose.
FLAG_ORDER = [
    ("WRITE", "write"), ("READONLY", "readonly"), ("DENYOOM", "denyoom"),
    ("MODULE", "module"), ("ADMIN", "admin"), ("PUBSUB", "pubsub"),
    ("NOSCRIPT", "noscript"), ("BLOCKING", "blocking"), ("LOADING", "loading"),
    ("STALE", "stale"), ("SKIP_MONITOR", "skip_monitor"),
    ("SKIP_SLOWLOG", "skip_slowlog"), ("ASKING", "asking"), ("FAST", "fast"),
    ("NO_AUTH", "no_auth"), ("MAY_REPLICATE", None), ("SENTINEL", None),
    ("ONLY_SENTINEL", None), ("NO_MANDATORY_KEYS", "no_mandatory_keys"),
    ("PROTECTED", None), ("NO_ASYNC_LOADING", "no_async_loading"),
    ("NO_MULTI", "no_multi"), ("MOVABLE_KEYS", "movablekeys"),
    ("ALLOW_BUSY", "allow_busy"), ("TOUCHES_ARBITRARY_KEYS", None),
]
KNOWN_FLAGS = {f for f, _ in FLAG_ORDER}
# addReplyFlagsForKeyArgs's order.
KEY_FLAG_ORDER = [
    ("RO", "RO"), ("RW", "RW"), ("OW", "OW"), ("RM", "RM"), ("ACCESS", "access"),
    ("UPDATE", "update"), ("INSERT", "insert"), ("DELETE", "delete"),
    ("NOT_KEY", "not_key"), ("INCOMPLETE", "incomplete"),
    ("VARIABLE_FLAGS", "variable_flags"),
]
DOC_FLAG_ORDER = [("DEPRECATED", "deprecated"), ("SYSCMD", "syscmd")]
GROUPS = {"sorted_set": "sorted-set"}


def lit(s):
    """A Rust string literal."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def opt(s):
    return "Some(%s)" % lit(s) if s else "None"


def strs(items):
    return "&[%s]" % ", ".join(lit(i) for i in items)


def ordered(flags, order, what):
    for f in flags:
        if f not in {k for k, _ in order}:
            sys.exit("unknown %s flag %s" % (what, f))
    return [name for k, name in order if k in flags and name]


def legacy_range(specs):
    """populateCommandLegacyRangeSpec: (first, last, step, movable)."""
    if not specs:
        return 0, 0, 0, False

    def is_range(s):
        return "index" in s["begin_search"] and "range" in s["find_keys"]

    if len(specs) == 1 and is_range(specs[0]):
        s = specs[0]
        first = s["begin_search"]["index"]["pos"]
        last = s["find_keys"]["range"]["lastkey"]
        step = s["find_keys"]["range"]["step"]
        return first, (last + first if last >= 0 else last), step, "INCOMPLETE" in s["flags"]
    movable = False
    first, last, prev_last = None, 0, 0
    u32 = lambda v: v & 0xFFFFFFFF
    for s in specs:
        if not is_range(s):
            movable = True
            continue
        pos = s["begin_search"]["index"]["pos"]
        if s["find_keys"]["range"]["step"] != 1 or (prev_last and prev_last != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in s["flags"]:
            movable = True
        first = pos if first is None else min(first, pos)
        abs_last = s["find_keys"]["range"]["lastkey"]
        if abs_last >= 0:
            abs_last += pos
        last = last if u32(last) >= u32(abs_last) else abs_last
        prev_last = last
    if first is None:
        return 0, 0, 0, True
    rel = last if last < 0 else last - first
    return first, (rel + first if rel >= 0 else rel), 1, movable


def key_spec(s):
    bs = s["begin_search"]
    if "index" in bs:
        begin = "BeginSearch::Index(%d)" % bs["index"]["pos"]
    elif "keyword" in bs:
        begin = "BeginSearch::Keyword { keyword: %s, startfrom: %d }" % (
            lit(bs["keyword"]["keyword"]), bs["keyword"]["startfrom"])
    else:
        begin = "BeginSearch::Unknown"
    fk = s["find_keys"]
    if "range" in fk:
        r = fk["range"]
        find = "FindKeys::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            r["lastkey"], r["step"], r["limit"])
    elif "keynum" in fk:
        k = fk["keynum"]
        find = "FindKeys::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            k["keynumidx"], k["firstkey"], k["step"])
    else:
        find = "FindKeys::Unknown"
    return "KeySpec { notes: %s, flags: %s, begin: %s, find: %s }" % (
        opt(s.get("notes")), strs(ordered(s.get("flags", []), KEY_FLAG_ORDER, "key")),
        begin, find)


def argument(a, indent):
    flags = [f for f in ("optional", "multiple", "multiple_token") if a.get(f)]
    sub = ""
    if a["type"] in ("oneof", "block"):
        sub = "&[\n%s%s]" % ("".join(argument(s, indent + 4) for s in a["arguments"]),
                             " " * indent)
    else:
        sub = "&[]"
    pad = " " * indent
    token = a.get("token")
    return (
        "%sArg { name: %s, kind: %s, key_spec_index: %d, token: %s, summary: %s, since: %s, "
        "deprecated_since: %s, flags: %s, arguments: %s },\n"
        % (pad, lit(a["name"].lower()), lit(a["type"]), a.get("key_spec_index", -1),
           opt(token.upper() if token else None), opt(a.get("summary")), opt(a.get("since")),
           opt(a.get("deprecated_since")), strs(flags), sub))


def doc(fullname, d, subs, indent):
    for f in d.get("command_flags", []):
        if f not in KNOWN_FLAGS:
            sys.exit("%s: unknown command flag %s" % (fullname, f))
    specs = d.get("key_specs", [])
    first, last, step, movable = legacy_range(specs)
    cmd_flags = set(d.get("command_flags", []))
    if movable:
        cmd_flags.add("MOVABLE_KEYS")
    pad = " " * indent
    fields = [
        ("name", lit(fullname)),
        ("arity", str(d["arity"])),
        ("flags", strs(ordered(cmd_flags, FLAG_ORDER, "command"))),
        ("first_key", str(first)),
        ("last_key", str(last)),
        ("key_step", str(step)),
        ("tips", strs([t.lower() for t in d.get("command_tips", [])])),
        ("key_specs", "&[%s]" % ", ".join(key_spec(s) for s in specs)),
        ("summary", opt(d.get("summary"))),
        ("since", opt(d.get("since"))),
        ("group", lit(GROUPS.get(d["group"], d["group"]))),
        ("complexity", opt(d.get("complexity"))),
        ("doc_flags", strs(ordered(d.get("doc_flags", []), DOC_FLAG_ORDER, "doc"))),
        ("deprecated_since", opt(d.get("deprecated_since"))),
        ("replaced_by", opt(d.get("replaced_by"))),
        ("history", "&[%s]" % ", ".join("(%s, %s)" % (lit(a), lit(b))
                                        for a, b in d.get("history", []))),
        ("arguments", "&[\n%s%s    ]" % ("".join(argument(a, indent + 8)
                                                 for a in d.get("arguments", [])), pad)
         if d.get("arguments") else "&[]"),
    ]
    out = "%sCommandDoc {\n" % pad
    for k, v in fields:
        out += "%s    %s: %s,\n" % (pad, k, v)
    if subs:
        out += "%s    subcommands: &[\n%s%s    ],\n" % (pad, "".join(subs), pad)
    else:
        out += "%s    subcommands: &[],\n" % pad
    return out + "%s},\n" % pad


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        ROOT, "src/protocol/metadata_table.rs")
    every = {}
    for path in sorted(glob.glob(os.path.join(src, "*.json"))):
        with open(path) as f:
            for name, d in json.load(f).items():
                full = name.lower()
                if "container" in d:
                    full = d["container"].lower() + "|" + full
                every[full] = d
    with open(os.path.join(HERE, "command-docs.list")) as f:
        wanted = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    missing = [w for w in wanted if w not in every]
    if missing:
        sys.exit("not in Redis's command table: %s" % ", ".join(missing))
    tops = sorted(w for w in wanted if "|" not in w)
    body = ""
    for top in tops:
        d = every[top]
        is_container = any(k.startswith(top + "|") for k in every)
        subs = None
        if is_container:
            subs = [doc(w, every[w], None, 12) for w in sorted(wanted)
                    if w.startswith(top + "|")]
        body += doc(top, d, subs, 4)
    # Every Redis command and subcommand (for the drift test).
    redis = "".join("    (%s, %d),\n" % (lit(k), every[k]["arity"]) for k in sorted(every))
    text = (
        "// @generated by scripts/gen-command-docs.py from Redis 7.0.15's\n"
        "// src/commands/*.json and scripts/command-docs.list: do not edit.\n\n"
        "use super::metadata::{Arg, BeginSearch, CommandDoc, FindKeys, KeySpec};\n\n"
        "/// The commands capkv implements, by name, with their subcommands.\n"
        "pub static COMMANDS: &[CommandDoc] = &[\n%s];\n\n"
        "/// Every command and subcommand of Redis 7.0.15, with its arity.\n"
        "#[cfg(test)]\n"
        "pub static REDIS_COMMANDS: &[(&str, i32)] = &[\n%s];\n" % (body, redis))
    with open(out_path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
