//! What one connection costs while idle, besides its socket: the size of
//! the task's future (a connection holds no buffer while idle).

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
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let task = capkv::server::connection::serve(socket, server.shared().clone(), rx, 1);
    let size = std::mem::size_of_val(&task);
    println!("connection future: {size} bytes");
    assert!(size <= 4096, "a connection's future is {size} bytes");
}
