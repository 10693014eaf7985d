//! Where deliveries go with and without `webhooks.proxy`: proxies from the environment are never
//! used (through one, the destination checks would see only the proxy); a configured proxy gets
//! the request only after every address of the destination was allowed, and the proxy's own
//! address is exempt from the policy.
//!
//! One test, so the proxy variables it sets in the environment are there before any client is
//! built and no other test of this binary sees them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brokkr_runtime::webhooks::client::DeliveryClient;
use brokkr_runtime::webhooks::delivery::send;
use brokkr_schema::destinations::DestinationPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP server on loopback that records the request line of everything it is sent and
/// answers `200` with `answer` as the body: a receiver, or a forward proxy that never forwards.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(answer: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then the body its Content-Length announces.
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                let line = text.lines().next().unwrap_or_default().to_owned();
                                record.lock().unwrap().push(line);
                                break;
                            }
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn deliver(client: &DeliveryClient, url: &str) -> (bool, Option<String>, Option<String>) {
    let answer = send(
        client,
        url,
        [("content-type", "application/json".to_owned())],
        b"{}".to_vec(),
        Duration::from_secs(5),
    )
    .await;
    (answer.is_success(), answer.body, answer.error)
}

fn loopback_allowed() -> DestinationPolicy {
    DestinationPolicy::from_networks(&["127.0.0.0/8".to_owned(), "::1".to_owned()]).unwrap()
}

#[tokio::test]
async fn deliveries_use_only_the_configured_proxy_and_check_destinations_before_it() {
    let receiver = Recorder::start("from the receiver").await;
    let env_proxy = Recorder::start("from the environment's proxy").await;
    let proxy = Recorder::start("from the configured proxy").await;
    // SAFETY: no other thread reads the environment yet (the recorders only accept).
    unsafe {
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            std::env::set_var(name, format!("http://127.0.0.1:{}", env_proxy.port));
        }
        std::env::set_var("NO_PROXY", "");
    }
    let hook = format!("http://localhost:{}/hook", receiver.port);

    // Without webhooks.proxy: straight to the receiver, whatever the environment says.
    let direct = DeliveryClient::new(loopback_allowed()).unwrap();
    let (ok, body, error) = deliver(&direct, &hook).await;
    assert!(ok, "direct delivery: {body:?} {error:?}");
    assert_eq!(body.as_deref(), Some("from the receiver"));
    let in_cluster = DeliveryClient::in_cluster().unwrap();
    let (ok, body, _) = deliver(&in_cluster, &hook).await;
    assert!(
        ok && body.as_deref() == Some("from the receiver"),
        "{body:?}"
    );
    assert_eq!(receiver.seen().len(), 2, "{:?}", receiver.seen());
    assert!(env_proxy.seen().is_empty(), "{:?}", env_proxy.seen());

    // With webhooks.proxy, an allowed destination is handed to the proxy, by its absolute URL.
    let proxy_url: url::Url = format!("http://127.0.0.1:{}", proxy.port).parse().unwrap();
    let proxied = DeliveryClient::with_proxy(loopback_allowed(), Some(&proxy_url)).unwrap();
    let (ok, body, error) = deliver(&proxied, &hook).await;
    assert!(ok, "proxied delivery: {body:?} {error:?}");
    assert_eq!(body.as_deref(), Some("from the configured proxy"));
    assert_eq!(proxy.seen(), vec![format!("POST {hook} HTTP/1.1")]);

    // A destination the policy refuses never reaches the proxy: a host name resolving to a
    // refused address, and an IP literal.
    let strict =
        DeliveryClient::with_proxy(DestinationPolicy::default(), Some(&proxy_url)).unwrap();
    for refused in [
        hook.clone(),
        format!("http://127.0.0.1:{}/hook", receiver.port),
    ] {
        let (ok, _, error) = deliver(&strict, &refused).await;
        let error = error.unwrap_or_default();
        assert!(!ok && error.contains("refused"), "{refused}: {error}");
    }
    assert_eq!(proxy.seen().len(), 1, "{:?}", proxy.seen());

    // The proxy itself may sit on a refused address, named by host name too: a public
    // destination goes through it (the proxy answers; nothing leaves this machine).
    let by_name: url::Url = format!("http://localhost:{}", proxy.port).parse().unwrap();
    let strict = DeliveryClient::with_proxy(DestinationPolicy::default(), Some(&by_name)).unwrap();
    let public = "http://93.184.215.14/hook";
    let (ok, body, error) = deliver(&strict, public).await;
    assert!(ok, "through a proxy on loopback: {body:?} {error:?}");
    assert_eq!(
        proxy.seen().last(),
        Some(&format!("POST {public} HTTP/1.1"))
    );
    assert_eq!(receiver.seen().len(), 2);
    assert!(env_proxy.seen().is_empty(), "{:?}", env_proxy.seen());
}
