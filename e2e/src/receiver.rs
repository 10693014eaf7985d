//! A webhook receiver for end-to-end tests: an HTTP/1.1 server on a loopback port that records
//! every request (headers and JSON body) and answers `200 thanks`, optionally after a delay.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::future::Future;

use tokio::net::{TcpListener, TcpStream};

use crate::harness::eventually;

/// Binds a loopback port and runs `serve` for each connection on its own task until the test
/// ends; returns the address. `what` names the server in a failure.
pub async fn serve_loopback<F, Fut>(what: &str, serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{what} cannot bind a loopback port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{what} has no address: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// The whole body of `request` (empty if it cannot be read).
pub async fn read_body(request: Request<Incoming>) -> Bytes {
    request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// How long [`Receiver::wait_for`] waits.
const WAIT: Duration = Duration::from_secs(60);

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running receiver.
#[derive(Clone, Default)]
pub struct Receiver {
    /// Every request so far, in arrival order.
    pub seen: Arc<Mutex<Vec<Received>>>,
    /// Milliseconds each answer is held back (0: at once).
    pub delay_ms: Arc<AtomicU64>,
    addr: Option<SocketAddr>,
}

impl Receiver {
    /// Binds a loopback port and serves until the test ends.
    pub async fn start() -> Receiver {
        let mut receiver = Receiver::default();
        let (seen, delay) = (receiver.seen.clone(), receiver.delay_ms.clone());
        let addr = serve_loopback("receiver", move |stream| {
            let (seen, delay) = (seen.clone(), delay.clone());
            async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (seen, delay) = (seen.clone(), delay.clone());
                    async move {
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        let body = read_body(request).await;
                        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        if let Ok(mut seen) = seen.lock() {
                            seen.push(Received { headers, body });
                        }
                        let pause = delay.load(Ordering::Relaxed);
                        if pause > 0 {
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"thanks"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await;
        receiver.addr = Some(addr);
        receiver
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr.expect("receiver address"))
    }

    /// A copy of every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (up to a minute) for a request that `matches`, and returns it.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        let matches = &matches;
        eventually(what, WAIT, || async move {
            let all = self.received();
            all.iter().find(|r| matches(r)).cloned().ok_or_else(|| {
                let events: Vec<_> = all.iter().map(|r| r.body["event_type"].clone()).collect();
                format!("{} requests: {events:?}", all.len())
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}
