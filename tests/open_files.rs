//! The server raises its soft open-files limit to the hard limit at start,
//! so a shell's or systemd's 1,024 does not cap it at a thousand clients.
//! A test binary of its own: it lowers this process's soft limit, which the
//! server inherits.

mod common;

use common::BinaryServer;

fn soft_and_hard(limits: &str) -> (u64, u64) {
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("open files line");
    let mut numbers = line.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let low = 256.min(hard);
    rlimit::Resource::NOFILE.set(low, hard).unwrap();
    let server = BinaryServer::start(&["--max-connections", "100"]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    assert_eq!(soft_and_hard(&limits), (hard, hard), "{limits}");
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains(&format!("open_files={hard}")), "{log}");
}
