//! Counts the broker's open client connections (`brokkr_http_connections_open`): an acceptor
//! around the listener whose streams hold a count until the connection closes.

use std::io::Result as IoResult;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::OpenGuard;

/// Wraps an acceptor so each accepted connection is counted in `gauge` while it is open.
pub struct CountingAcceptor<A> {
    inner: A,
    gauge: IntGauge,
}

impl<A> CountingAcceptor<A> {
    /// Counts the connections `inner` accepts in `gauge`.
    pub fn new(inner: A, gauge: IntGauge) -> Self {
        Self { inner, gauge }
    }
}

impl<A: Acceptor> Acceptor for CountingAcceptor<A> {
    type Io = CountedStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let stream = CountedStream {
            io,
            _open: OpenGuard::open(&self.gauge),
        };
        Ok((stream, local, remote, scheme))
    }
}

/// A connection's stream, counted as open until dropped.
pub struct CountedStream<T> {
    io: T,
    _open: OpenGuard,
}

impl<T: AsyncRead + Unpin> AsyncRead for CountedStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountedStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<IoResult<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
