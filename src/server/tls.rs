//! TLS: the rustls configuration built from PEM files, rebuilt when they
//! change, and the handshake that turns an accepted socket into a
//! [`Transport::Tls`].
//!
//! - **Reload.** cert-manager and Kubernetes rotate a Secret by swapping
//!   the files in place (a symlink flip). [`TlsFiles::reload_if_changed`]
//!   rereads the files and rebuilds the configuration when their bytes
//!   differ from the last good load (bytes, not modification times: a
//!   symlink flip can keep the target's times, and a copy can land within
//!   one timestamp tick); the binary calls it every second and on SIGHUP.
//!   A file that does not parse keeps the previous configuration and is
//!   logged. Each handshake takes the configuration current when it
//!   starts, so a session in flight keeps the certificate it was made
//!   with and a new client sees the new one.
//! - **Versions.** TLS 1.2 and 1.3 only (rustls has nothing older), with
//!   the ring provider's default cipher suites.
//! - **Client certificates** (`--tls-auth-clients`): `yes` requires one
//!   signed by `--tls-ca-cert-file`, `optional` verifies one if offered,
//!   `no` never asks.
//! - **Memory.** A handshake reserves [`HANDSHAKE_BYTES`] of the budget
//!   before it starts (waiting for room like any buffer, so a flood of
//!   handshakes cannot outgrow the budget; the wait counts against the
//!   handshake's deadline), and an established session keeps
//!   [`SESSION_BYTES`] until it closes: rustls's state and 4 KiB read
//!   buffer, which every session holds, and the most its buffers can
//!   grow to, a half-received record and [`TLS_SEND_LIMIT`] of
//!   ciphertext for a full socket. Reserving the worst case for the
//!   session's life makes a TLS connection cost 46 KiB of budget where it
//!   holds 9 KB while idle; the other choice, reserving only while the
//!   buffers are full, would need rustls to report its buffer sizes,
//!   which it does not.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use xxhash_rust::xxh3::xxh3_64;

use super::transport::{TLS_SEND_LIMIT, TlsStream, Transport};
use crate::memory::Budget;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Budget reserved while a handshake runs: rustls's handshake buffers
/// (a client flight may be up to 64 KiB) and tokio-rustls's stream.
pub const HANDSHAKE_BYTES: usize = 96 * 1024;

/// Budget an established session keeps: rustls's state with its 4 KiB
/// read buffer (9.0 KB a connection measured idle, `scripts/tls-memory.sh`),
/// the read buffer's growth to one whole 16 KiB record while a record is
/// half-received, and the ciphertext held for a full socket (see the
/// module docs).
pub const SESSION_BYTES: usize = 12 * 1024 + 17 * 1024 + (TLS_SEND_LIMIT + 1024);

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuth {
    /// Required, signed by the CA.
    Yes,
    /// Never asked for.
    No,
    /// Verified when offered.
    Optional,
}

/// The files and policy a TLS configuration is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// Whether clients must present a certificate.
    pub auth_clients: ClientAuth,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{flag} {path}: {error}")]
    Read {
        /// The flag that names the file.
        flag: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        error: io::Error,
    },
    /// A file's contents are not what the flag asks for.
    #[error("{flag} {path}: {reason}")]
    Invalid {
        /// The flag that names the file.
        flag: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the combination (a key that does not match the
    /// certificate, for one).
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// The files' bytes, as last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stamp(Vec<u64>);

/// A TLS configuration that follows its files.
pub struct TlsFiles {
    settings: TlsSettings,
    current: Mutex<(Arc<ServerConfig>, Stamp)>,
}

impl TlsFiles {
    /// Loads the files; fails if any of them is unusable.
    pub fn load(settings: TlsSettings) -> Result<TlsFiles, TlsError> {
        let (contents, stamp) = read_all(&settings)?;
        let config = build(&settings, &contents)?;
        Ok(TlsFiles { settings, current: Mutex::new((config, stamp)) })
    }

    /// The configuration a handshake starting now uses.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.lock().0.clone()
    }

    /// Rereads the files and, if their bytes changed, rebuilds the
    /// configuration. `Ok(true)` when a new one is in force; on an error
    /// the previous one stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let (contents, stamp) = read_all(&self.settings)?;
        if self.lock().1 == stamp {
            return Ok(false);
        }
        let config = build(&self.settings, &contents)?;
        *self.lock() = (config, stamp);
        Ok(true)
    }

    /// The files and policy.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Arc<ServerConfig>, Stamp)> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The files' contents, in the order cert, key, CA.
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Option<Vec<u8>>,
}

fn read_all(settings: &TlsSettings) -> Result<(Contents, Stamp), TlsError> {
    let read = |flag: &'static str, path: &Path| {
        std::fs::read(path).map_err(|error| TlsError::Read { flag, path: shown(path), error })
    };
    let cert = read("--tls-cert-file", &settings.cert_file)?;
    let key = read("--tls-key-file", &settings.key_file)?;
    let ca = settings.ca_file.as_deref().map(|p| read("--tls-ca-cert-file", p)).transpose()?;
    let mut stamp = vec![xxh3_64(&cert), xxh3_64(&key)];
    stamp.extend(ca.as_deref().map(xxh3_64));
    Ok((Contents { cert, key, ca }, Stamp(stamp)))
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn build(settings: &TlsSettings, contents: &Contents) -> Result<Arc<ServerConfig>, TlsError> {
    let invalid = |flag: &'static str, path: &Path, reason: String| TlsError::Invalid {
        flag,
        path: shown(path),
        reason,
    };
    let certs = certificates(&contents.cert)
        .map_err(|reason| invalid("--tls-cert-file", &settings.cert_file, reason))?;
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| {
        invalid("--tls-key-file", &settings.key_file, format!("no usable private key: {e}"))
    })?;
    let verifier = match (&contents.ca, settings.auth_clients) {
        (_, ClientAuth::No) => None,
        (None, _) => {
            return Err(TlsError::Rustls(
                "--tls-auth-clients yes or optional needs --tls-ca-cert-file".into(),
            ));
        }
        (Some(ca), auth) => {
            let path = settings.ca_file.as_deref().unwrap_or(Path::new(""));
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca).map_err(|r| invalid("--tls-ca-cert-file", path, r))? {
                roots.add(cert).map_err(|e| invalid("--tls-ca-cert-file", path, e.to_string()))?;
            }
            let builder = WebPkiClientVerifier::builder(Arc::new(roots));
            let builder = if auth == ClientAuth::Optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            Some(builder.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
        }
    };
    let builder = ServerConfig::builder();
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let config =
        builder.with_single_cert(certs, key).map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file; an error if there is none.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}

/// Budget bytes held for as long as this lives.
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Held {
    /// Gives back all but `bytes`.
    fn keep(&mut self, bytes: usize) {
        let back = self.bytes.saturating_sub(bytes);
        self.budget.release(back);
        self.bytes -= back;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Runs the server side of a handshake on `socket` with `config`, within
/// [`HANDSHAKE_TIMEOUT`], the budget's room for it reserved first. Returns
/// the session ready to serve, and the budget it keeps.
pub async fn handshake(
    socket: TcpStream,
    config: Arc<ServerConfig>,
    budget: &Arc<Budget>,
) -> io::Result<(Transport, Held)> {
    let handshake = async {
        budget.reserve(HANDSHAKE_BYTES).await;
        let held = Held { budget: budget.clone(), bytes: HANDSHAKE_BYTES };
        let stream = tokio_rustls::TlsAcceptor::from(config).accept(socket).await?;
        io::Result::Ok((stream, held))
    };
    let (stream, mut held) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(done) => done?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    };
    let (socket, session) = stream.into_inner();
    held.keep(SESSION_BYTES);
    Ok((Transport::Tls(Box::new(TlsStream::new(socket, session))), held))
}
