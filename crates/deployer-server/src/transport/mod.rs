//! How the API is reached: plain HTTP or HTTPS (rustls, certificates reloaded when their files
//! change), the client's address, and the response headers every answer carries.

/// Security headers on every answer.
pub mod headers;
/// HTTPS: the listener and the reloading certificate.
pub mod tls;

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

/// The address of the client of a connection: what per-address rate limits and the audit log
/// use. (Behind a reverse proxy this is the proxy's address.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tls::TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tls::TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}
