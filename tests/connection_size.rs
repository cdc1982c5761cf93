//! What one connection costs while idle, besides its socket: the size of
//! the task's future (a connection holds no buffer while idle).
//!
//! The bound is a size class, not a wish. Tokio keeps a task in one
//! allocation aligned to 128 bytes: about 96 bytes of header and trailer,
//! the future `Server::run` spawns (this one plus about 60 bytes of
//! guards and ids). At up to 320 bytes here the task is 512 bytes; past
//! about 350 it is 640, 128 more per idle connection.

use clap::Parser;

use capkv::config::{Cli, Environment};
use capkv::server::Server;

#[tokio::test]
async fn an_idle_connection_task_is_small() {
    let cli = Cli::try_parse_from(["capkv", "--max-memory", "64mb"]).unwrap();
    let env = Environment { cgroup_limit: None, total_memory: 8 << 30, cpus: 2 };
    let config = cli.resolve(&env).unwrap();
    let server = Server::start(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    let stop = std::sync::Arc::new(capkv::server::stop::Stop::default());
    let socket = capkv::server::transport::Transport::Plain(socket);
    let port = capkv::server::Port::Mixed;
    let task = capkv::server::connection::serve(socket, port, server.shared().clone(), stop, 1);
    let size = std::mem::size_of_val(&task);
    println!("connection future: {size} bytes");
    assert!(size <= 320, "a connection's future is {size} bytes: see the module doc");
}
