//! TLS on `--tls-port`: both protocols over real TLS connections, client
//! certificates, a certificate rotated on disk, and what a client that
//! does not speak TLS gets. Certificates are made here with rcgen, never
//! read from the repository.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use common::{BinaryServer, TestServer, eventually};

/// A CA and what it can sign.
struct Ca {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), der: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A leaf for `names`, as (certificate PEM, key PEM, certificate DER,
    /// key DER).
    fn leaf(&self, names: &[&str]) -> Leaf {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// A directory of PEM files for one server.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("capkv-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        // Written beside and renamed over, as Kubernetes swaps a Secret.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path.display().to_string()
    }

    fn server(&self, leaf: &Leaf) -> (String, String) {
        (self.write("tls.crt", &leaf.cert_pem), self.write("tls.key", &leaf.key_pem))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_config(trust: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trust.der.clone()).unwrap();
    let builder = ClientConfig::builder().with_root_certificates(roots);
    Arc::new(match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client connection, its handshake completed (or the error that
/// ended it).
fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let session = ClientConnection::new(config, name).unwrap();
    let mut stream = StreamOwned::new(session, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    // TLS 1.3 reports a refused client certificate only after the
    // handshake, on the first read: ask for one reply to find out.
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    assert_eq!(&reply, b"+PONG\r\n");
    Ok(stream)
}

fn ask(stream: &mut Tls, request: &[u8], reply_len: usize) -> Vec<u8> {
    stream.write_all(request).unwrap();
    let mut reply = vec![0u8; reply_len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

fn tls_server(files: &Files, leaf: &Leaf, extra: &[&str]) -> TestServer {
    let (cert, key) = files.server(leaf);
    let mut args = vec!["--tls-port", "0", "--tls-cert-file", &cert, "--tls-key-file", &key];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

#[test]
fn both_protocols_work_over_tls_and_share_the_store_with_plain_tcp() {
    let ca = Ca::new("test ca");
    let files = Files::new("protocols");
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &[]);
    let tls = server.tls.unwrap();
    let mut resp = connect(tls, client_config(&ca, None)).unwrap();
    assert_eq!(ask(&mut resp, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", 5), b"+OK\r\n");
    assert_eq!(ask(&mut resp, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 11), b"$5\r\nhello\r\n");

    // The seed's line protocol, detected from the first decrypted byte.
    let mut line = connect_line(tls, &ca);
    assert_eq!(ask(&mut line, b"GET k\n", 6), b"hello\n");
    assert_eq!(ask(&mut line, b"PUT n netcat\nGET n\n", 10), b"OK\nnetcat\n");

    // Plain TCP sees what TLS clients wrote.
    let mut plain = server.connect();
    assert_eq!(plain.ask(b"GET n\n"), b"netcat\n");
    assert_eq!(server.shared.engine.stats.tls_handshakes.load(Ordering::Relaxed), 2);
}

/// A line-protocol client: the handshake, and nothing sent yet.
fn connect_line(addr: SocketAddr, ca: &Ca) -> Tls {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let session = ClientConnection::new(client_config(ca, None), name).unwrap();
    StreamOwned::new(session, socket)
}

#[test]
fn pipelines_and_values_larger_than_a_record_cross_tls_intact() {
    let ca = Ca::new("test ca");
    let files = Files::new("pipeline");
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &[]);
    let mut stream = connect(server.tls.unwrap(), client_config(&ca, None)).unwrap();

    // 2,000 SETs of 10 KiB in one write: 20 MB the server reads while its
    // replies wait behind a client that is still writing.
    let value = vec![b'v'; 10 * 1024];
    let mut batch = Vec::new();
    for i in 0..2000 {
        let key = format!("key:{i:05}");
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n", key.len(), value.len())
                .as_bytes(),
        );
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
    }
    let writer = {
        let mut copy = stream.sock.try_clone().unwrap();
        // Only the handshake's owner may write records: hand the whole
        // batch to rustls here and push its ciphertext from a thread.
        stream.conn.set_buffer_limit(None);
        stream.conn.writer().write_all(&batch).unwrap();
        let mut ciphertext = Vec::new();
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut ciphertext).unwrap();
        }
        std::thread::spawn(move || copy.write_all(&ciphertext).unwrap())
    };
    let mut replies = vec![0u8; 2000 * 5];
    stream.read_exact(&mut replies).unwrap();
    assert!(replies.chunks(5).all(|r| r == b"+OK\r\n"));
    writer.join().unwrap();

    // A 200 KiB value comes back in many records, and nothing is lost
    // when the socket is slower than the session.
    let big: Vec<u8> = (0..200 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", big.len()).into_bytes();
    set.extend_from_slice(&big);
    set.extend_from_slice(b"\r\n");
    assert_eq!(ask(&mut stream, &set, 5), b"+OK\r\n");
    let header = format!("${}\r\n", big.len());
    let reply = ask(&mut stream, b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", header.len() + big.len() + 2);
    assert_eq!(&reply[..header.len()], header.as_bytes());
    assert!(reply[header.len()..header.len() + big.len()] == big[..]);
}

#[test]
fn a_tls_session_holds_its_buffers_in_the_budget_until_it_closes() {
    let ca = Ca::new("test ca");
    let files = Files::new("budget");
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &[]);
    let budget = &server.shared.engine.budget;
    let idle = budget.buffer_bytes();
    let sessions: Vec<_> =
        (0..4).map(|_| connect(server.tls.unwrap(), client_config(&ca, None)).unwrap()).collect();
    let open = budget.buffer_bytes();
    let sessions_bytes = 4 * capkv::server::tls::SESSION_BYTES;
    assert!(open - idle >= sessions_bytes, "{idle} then {open}");
    drop(sessions);
    // Down by the sessions' bytes (the workers' own space, taken on first
    // use, stays).
    assert!(eventually(Duration::from_secs(5), || open - budget.buffer_bytes() >= sessions_bytes));
}

#[test]
fn plaintext_on_the_tls_port_is_refused_and_the_server_goes_on() {
    let ca = Ca::new("test ca");
    let files = Files::new("plaintext");
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &[]);
    let tls = server.tls.unwrap();
    for request in [&b"PING\r\n"[..], b"*1\r\n$4\r\nPING\r\n", b"GET k\n"] {
        let mut plain = TcpStream::connect(tls).unwrap();
        plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        plain.write_all(request).unwrap();
        // Closed (perhaps after an alert record): never a reply, never a hang.
        let mut got = Vec::new();
        let end = plain.read_to_end(&mut got);
        assert!(end.is_ok() || end.unwrap_err().kind() == std::io::ErrorKind::ConnectionReset);
        assert!(!got.starts_with(b"+") && !got.starts_with(b"-"), "{got:?}");
    }
    assert!(eventually(Duration::from_secs(5), || {
        server.shared.engine.stats.tls_handshake_failures.load(Ordering::Relaxed) == 3
    }));
    connect(tls, client_config(&ca, None)).unwrap();
}

#[test]
fn a_client_that_trusts_another_ca_refuses_the_server() {
    let ca = Ca::new("test ca");
    let files = Files::new("wrong-ca");
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &[]);
    let Err(error) = connect(server.tls.unwrap(), client_config(&Ca::new("other ca"), None)) else {
        panic!("the handshake went through");
    };
    assert!(error.to_string().contains("invalid peer certificate"), "{error}");
}

#[test]
fn client_certificates_are_required_verified_or_optional_as_configured() {
    let ca = Ca::new("test ca");
    let clients = Ca::new("client ca");
    let files = Files::new("mtls");
    let ca_file = files.write("ca.crt", &clients.pem);
    let good = clients.leaf(&["client"]);
    let stranger = Ca::new("stranger").leaf(&["client"]);
    let server = tls_server(&files, &ca.leaf(&["localhost"]), &["--tls-ca-cert-file", &ca_file]);
    let tls = server.tls.unwrap();
    connect(tls, client_config(&ca, Some(&good))).expect("a certificate from the CA is accepted");
    assert!(connect(tls, client_config(&ca, None)).is_err(), "no certificate: refused");
    assert!(connect(tls, client_config(&ca, Some(&stranger))).is_err(), "wrong CA: refused");

    let optional = tls_server(
        &files,
        &ca.leaf(&["localhost"]),
        &["--tls-ca-cert-file", &ca_file, "--tls-auth-clients", "optional"],
    );
    let tls = optional.tls.unwrap();
    connect(tls, client_config(&ca, None)).expect("optional: no certificate is fine");
    connect(tls, client_config(&ca, Some(&good))).expect("optional: a good one too");
    assert!(connect(tls, client_config(&ca, Some(&stranger))).is_err(), "a bad one is not");
}

/// The TLS address from the binary's start-up line (`tls=ADDR`).
fn tls_address(server: &BinaryServer) -> SocketAddr {
    let log = server.log.lock().unwrap();
    let at = log.find("tls=").expect("tls= in the start-up line") + 4;
    log[at..].split_whitespace().next().unwrap().parse().unwrap()
}

fn peer_certificate(stream: &Tls) -> CertificateDer<'static> {
    stream.conn.peer_certificates().unwrap()[0].clone().into_owned()
}

#[test]
fn a_certificate_rotated_on_disk_is_served_to_new_clients_while_old_ones_keep_theirs() {
    let old_ca = Ca::new("old ca");
    let new_ca = Ca::new("new ca");
    let files = Files::new("rotate");
    let old = old_ca.leaf(&["localhost"]);
    let (cert, key) = files.server(&old);
    let server = BinaryServer::start(&[
        "--max-memory",
        "256mb",
        "--tls-port",
        "0",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let tls = tls_address(&server);
    let mut before = connect(tls, client_config(&old_ca, None)).unwrap();
    assert_eq!(peer_certificate(&before), old.cert_der);

    // cert-manager's way: new files swapped in, no signal.
    let new = new_ca.leaf(&["localhost"]);
    files.server(&new);
    assert!(
        eventually(Duration::from_secs(10), || {
            connect(tls, client_config(&new_ca, None))
                .is_ok_and(|s| peer_certificate(&s) == new.cert_der)
        }),
        "the new certificate was not served: {}",
        server.log.lock().unwrap()
    );
    // The session made before the rotation keeps working.
    assert_eq!(ask(&mut before, b"*1\r\n$4\r\nPING\r\n", 7), b"+PONG\r\n");

    // A broken file keeps the certificate in force, and says so.
    files.write("tls.key", "not a key");
    assert!(eventually(Duration::from_secs(10), || {
        server.log.lock().unwrap().contains("TLS reload failed")
    }));
    connect(tls, client_config(&new_ca, None)).expect("still the new certificate");

    // The key put right again is the configuration in force: nothing to
    // reload. SIGHUP rereads the files at once (and does not end the
    // process, as it would without a handler).
    files.write("tls.key", &new.key_pem);
    server.signal("-HUP");
    assert!(eventually(Duration::from_secs(10), || {
        server.log.lock().unwrap().contains("SIGHUP: TLS files unchanged")
    }));
    connect(tls, client_config(&new_ca, None)).unwrap();
}

#[test]
fn unusable_tls_files_stop_the_start_with_the_flag_named() {
    let files = Files::new("bad-files");
    let cert = files.write("tls.crt", "-----BEGIN NONSENSE-----\n");
    let key = files.write("tls.key", "nothing");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--redis-port", "0"])
        .args(["--max-memory", "256mb", "--tls-port", "0"])
        .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert-file"), "{stderr}");

    let missing = Path::new(&files.dir).join("absent.crt").display().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--redis-port", "0"])
        .args(["--max-memory", "256mb", "--tls-port", "0"])
        .args(["--tls-cert-file", &missing, "--tls-key-file", &key])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert-file") && stderr.contains("absent.crt"), "{stderr}");
}
