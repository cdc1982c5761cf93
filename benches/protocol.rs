//! Parser and encoder throughput for the requests a cache sees most: GET
//! and SET/PUT, alone and in 16-deep pipelines, and the bulk reply a GET
//! hit produces.
//!
//! `encode/bulk_100_fmt` is the same reply written through `core::fmt`; it
//! is here to keep the hand-rolled length formatting honest.

use std::hint::black_box;
use std::io::Write;

use capkv::protocol::{Dialect, Limits, Parsed, Reply, encode_command, encode_reply, line, resp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Both parsers' signature.
type ParseFn = for<'a, 'b> fn(&'a [u8], &'b Limits) -> Parsed<'a>;

const KEY: &[u8] = b"key:000000000042";

fn value() -> Vec<u8> {
    (0..100).map(|i| b'a' + (i % 26) as u8).collect()
}

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

/// Parses every request in `buf`; returns how many there were.
fn parse_all(parse: ParseFn, buf: &[u8], limits: &Limits) -> usize {
    let mut at = 0;
    let mut count = 0;
    while at < buf.len() {
        match parse(&buf[at..], limits) {
            Parsed::Command { command, consumed } => {
                black_box(&command);
                at += consumed;
                count += 1;
            }
            other => panic!("benchmark input did not parse: {other:?}"),
        }
    }
    count
}

fn parsing(c: &mut Criterion) {
    let limits = Limits::default();
    let value = value();
    let put_line = [&b"PUT "[..], KEY, b" ", &value, b"\n"].concat();
    let get_line = [&b"GET "[..], KEY, b"\n"].concat();
    let resp_set = multibulk(&[b"SET", KEY, &value]);
    let resp_get = multibulk(&[b"GET", KEY]);
    let cases: [(&str, ParseFn, &[u8]); 4] = [
        ("line_put", line::parse, &put_line),
        ("line_get", line::parse, &get_line),
        ("resp_set", resp::parse, &resp_set),
        ("resp_get", resp::parse, &resp_get),
    ];

    let mut group = c.benchmark_group("parse");
    for (name, parse, request) in cases {
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| parse_all(parse, black_box(request), &limits)));
    }
    for (name, parse, request) in cases {
        let pipeline = request.repeat(16);
        group.throughput(Throughput::Elements(16));
        group.bench_function(format!("{name}_x16"), |b| {
            b.iter(|| parse_all(parse, black_box(&pipeline), &limits))
        });
    }
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let value = value();
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bulk_100", |b| {
        b.iter(|| {
            out.clear();
            encode_reply(Dialect::Resp2, &Reply::Bulk(black_box(&value)), &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("bulk_100_fmt", |b| {
        b.iter(|| {
            out.clear();
            let value = black_box(&value);
            write!(out, "${}\r\n", value.len()).unwrap();
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
            black_box(out.len())
        })
    });
    group.bench_function("line_bulk_100", |b| {
        b.iter(|| {
            out.clear();
            encode_reply(Dialect::Line, &Reply::Bulk(black_box(&value)), &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("int", |b| {
        b.iter(|| {
            out.clear();
            encode_reply(Dialect::Resp2, &Reply::Int(black_box(1_234_567)), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, encoding);
criterion_main!(benches);
