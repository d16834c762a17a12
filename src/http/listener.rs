//! The listener axum serves from. Without `--proxy-protocol` it is the TCP listener as it is. With it, a
//! connection from a trusted proxy must start with a PROXY protocol header, read in its own task (with a
//! timeout) so a slow proxy never holds up the accept loop; the header's source becomes the connection's
//! peer. Connections from anyone else are served as they are: their PROXY header, if they send one, is not
//! read, so it reaches HTTP parsing and gets a 400.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::proxy_protocol::{self, Parsed, Source};
use crate::client_ip::TrustedProxies;

/// How long a trusted proxy has to send its PROXY header after connecting (they send it at once).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections whose header was read, waiting for the server to take them.
const READY_QUEUE: usize = 128;

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The TCP peer.
    pub socket: SocketAddr,
    /// Whom the peer relays, by its PROXY header; the peer itself when there is no header to believe.
    pub source: SocketAddr,
}

impl Connected<IncomingStream<'_, EdgeListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, EdgeListener>) -> Self {
        *stream.remote_addr()
    }
}

pub struct EdgeListener {
    local_addr: SocketAddr,
    accept: Accept,
}

enum Accept {
    Plain(TcpListener),
    /// An accept task reads PROXY headers and hands over finished connections.
    ProxyProtocol {
        ready: mpsc::Receiver<(Connection, Peer)>,
        acceptor: tokio::task::AbortHandle,
    },
}

impl Drop for EdgeListener {
    fn drop(&mut self) {
        // The accept task owns the socket: stopping it closes the port, so new connections are refused.
        if let Accept::ProxyProtocol { acceptor, .. } = &self.accept {
            acceptor.abort();
        }
    }
}

impl EdgeListener {
    /// Serve `listener`; with `proxy_protocol`, trusted peers must send a PROXY header first.
    pub fn new(listener: TcpListener, proxy_protocol: bool, trusted: Arc<TrustedProxies>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let accept = if proxy_protocol {
            let (sender, ready) = mpsc::channel(READY_QUEUE);
            let acceptor = tokio::spawn(accept_with_headers(listener, trusted, sender)).abort_handle();
            Accept::ProxyProtocol { ready, acceptor }
        } else {
            Accept::Plain(listener)
        };
        Ok(Self { local_addr, accept })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Listener for EdgeListener {
    type Io = Connection;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.accept {
            Accept::Plain(listener) => loop {
                match TcpListener::accept(listener).await {
                    Ok((stream, socket)) => {
                        return (Connection::new(stream, Vec::new()), Peer { socket, source: socket });
                    }
                    Err(error) => accept_failed(error).await,
                }
            },
            Accept::ProxyProtocol { ready, .. } => match ready.recv().await {
                Some(connection) => connection,
                // The accept task ended (it only does when aborted): accept nothing more.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer { socket: self.local_addr, source: self.local_addr })
    }
}

async fn accept_with_headers(
    listener: TcpListener,
    trusted: Arc<TrustedProxies>,
    ready: mpsc::Sender<(Connection, Peer)>,
) {
    loop {
        let (stream, socket) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        if !trusted.trusts(socket.ip()) {
            let plain = (Connection::new(stream, Vec::new()), Peer { socket, source: socket });
            if ready.send(plain).await.is_err() {
                return;
            }
            continue;
        }
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HEADER_TIMEOUT, read_header(stream)).await {
                Ok(Ok((connection, source))) => {
                    let source = match source {
                        Source::Client(address) => address,
                        Source::Proxy => socket,
                    };
                    // An error means the server stopped accepting: the connection is dropped, like one
                    // still in the kernel's backlog.
                    let _ = ready.send((connection, Peer { socket, source })).await;
                }
                Ok(Err(error)) => tracing::warn!(peer = %socket, %error, "closing a connection from a trusted proxy"),
                Err(_) => {
                    tracing::warn!(peer = %socket, "closing a connection from a trusted proxy: no PROXY header within {HEADER_TIMEOUT:?}")
                }
            }
        });
    }
}

/// Read a PROXY header; the stream with whatever came after it still to be read.
async fn read_header(mut stream: TcpStream) -> io::Result<(Connection, Source)> {
    let mut received = Vec::with_capacity(256);
    loop {
        match proxy_protocol::parse(&received) {
            Ok(Parsed::Header { source, length }) => {
                let rest = received.split_off(length);
                return Ok((Connection::new(stream, rest), source));
            }
            Ok(Parsed::Incomplete) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        received.reserve(256);
        if stream.read_buf(&mut received).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a whole PROXY header"));
        }
    }
}

/// As axum does for its own listener: a failed handshake is the client's business; anything else (such as
/// running out of file descriptors) is logged, and accepting resumes after a pause.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A TCP connection whose first bytes may have been read already (they followed the PROXY header in the
/// same packet): those are read again first.
pub struct Connection {
    stream: TcpStream,
    unread: Vec<u8>,
    /// How much of `unread` was read again.
    position: usize,
}

impl Connection {
    fn new(stream: TcpStream, unread: Vec<u8>) -> Self {
        Self { stream, unread, position: 0 }
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.position < this.unread.len() {
            let n = buf.remaining().min(this.unread.len() - this.position);
            buf.put_slice(&this.unread[this.position..this.position + n]);
            this.position += n;
            if this.position == this.unread.len() {
                this.unread = Vec::new();
                this.position = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn listener(proxy_protocol: bool, trusted: &str) -> (EdgeListener, SocketAddr) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let trusted = Arc::new(TrustedProxies::new(vec![trusted.parse().unwrap()]));
        (EdgeListener::new(tcp, proxy_protocol, trusted).unwrap(), address)
    }

    async fn read_all(mut connection: Connection) -> String {
        let mut text = String::new();
        connection.read_to_string(&mut text).await.unwrap();
        text
    }

    #[tokio::test]
    async fn a_trusted_proxys_header_is_taken_off_and_names_the_source() {
        let (mut listener, address) = listener(true, "127.0.0.1").await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n").await.unwrap();
        client.shutdown().await.unwrap();
        let (connection, peer) = listener.accept().await;
        assert_eq!(peer.source, "192.0.2.1:56324".parse().unwrap());
        assert_eq!(peer.socket, client.local_addr().unwrap());
        assert_eq!(read_all(connection).await, "GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_slow_proxy_does_not_hold_up_others() {
        let (mut listener, address) = listener(true, "127.0.0.1").await;
        let mut slow = TcpStream::connect(address).await.unwrap();
        slow.write_all(b"PROXY TCP4 192.0.2.1").await.unwrap();
        let mut quick = TcpStream::connect(address).await.unwrap();
        quick.write_all(b"PROXY TCP4 192.0.2.2 198.51.100.1 1000 443\r\n").await.unwrap();
        let (_, peer) = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await.unwrap();
        assert_eq!(peer.source, "192.0.2.2:1000".parse().unwrap());
        slow.write_all(b" 198.51.100.1 2000 443\r\n").await.unwrap();
        let (_, peer) = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await.unwrap();
        assert_eq!(peer.source, "192.0.2.1:2000".parse().unwrap());
    }

    #[tokio::test]
    async fn a_trusted_peer_without_a_header_is_dropped() {
        let (mut listener, address) = listener(true, "127.0.0.1").await;
        let mut bad = TcpStream::connect(address).await.unwrap();
        bad.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut closed = Vec::new();
        assert_eq!(bad.read_to_end(&mut closed).await.unwrap(), 0, "closed without an answer");
        let mut good = TcpStream::connect(address).await.unwrap();
        good.write_all(b"PROXY UNKNOWN\r\n").await.unwrap();
        let (_, peer) = listener.accept().await;
        assert_eq!(peer.source, good.local_addr().unwrap(), "UNKNOWN: the peer stands");
    }

    #[tokio::test]
    async fn an_untrusted_peers_bytes_are_left_alone() {
        let (mut listener, address) = listener(true, "10.0.0.0/8").await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n").await.unwrap();
        client.shutdown().await.unwrap();
        let (connection, peer) = listener.accept().await;
        assert_eq!(peer.source, client.local_addr().unwrap());
        assert_eq!(read_all(connection).await, "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n");
    }

    #[tokio::test]
    async fn without_proxy_protocol_everyone_is_served_as_they_are() {
        let (mut listener, address) = listener(false, "127.0.0.1").await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n").await.unwrap();
        client.shutdown().await.unwrap();
        let (connection, peer) = listener.accept().await;
        assert_eq!(peer.source, client.local_addr().unwrap());
        assert!(read_all(connection).await.starts_with("PROXY"));
    }

    #[tokio::test]
    async fn dropping_the_listener_closes_the_port() {
        let (listener, address) = listener(true, "127.0.0.1").await;
        drop(listener);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(address).await.is_err(), "connection refused");
    }
}
