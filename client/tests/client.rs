//! The client against a local test server: retries (and when not to retry), `Retry-After`,
//! ETags and 304, and errors that keep the broker's message.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brokkr_client::models::NewStack;
use brokkr_client::{Client, Error, RetryPolicy, TargetState};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Path};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler, http::StatusCode};

#[derive(Default)]
struct Counters {
    list: AtomicUsize,
    create: AtomicUsize,
    slow: AtomicUsize,
}

fn error(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "error": message }).to_string())
}

/// Two 503s (the first asking for a 1 s pause), then an empty list.
#[handler]
fn list_stacks(counters: Data<&Arc<Counters>>) -> Response {
    match counters.list.fetch_add(1, Ordering::SeqCst) {
        0 => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
            r.headers_mut()
                .insert("retry-after", poem::http::HeaderValue::from_static("1"));
            r
        }
        1 => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        _ => Response::builder()
            .content_type("application/json")
            .body("[]"),
    }
}

/// Always a 500: a POST must not be sent twice after it.
#[handler]
fn create_stack(counters: Data<&Arc<Counters>>) -> Response {
    counters.create.fetch_add(1, Ordering::SeqCst);
    error(StatusCode::INTERNAL_SERVER_ERROR, "disk full")
}

#[handler]
fn get_stack(Path(id): Path<String>) -> Response {
    error(StatusCode::NOT_FOUND, &format!("Stack {id} not found"))
}

/// Answers after 2 s.
#[handler]
async fn slow(counters: Data<&Arc<Counters>>) -> Response {
    counters.slow.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    Response::builder()
        .content_type("application/json")
        .body("[]")
}

/// ETag `"v1"`; a matching `If-None-Match` gets 304 (after `wait`, like the broker).
#[handler]
async fn target_state(req: &Request) -> Response {
    let matches = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some("\"v1\"");
    if matches {
        let wait = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("wait="))
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", "\"v1\"")
            .finish();
    }
    Response::builder()
        .header("etag", "\"v1\"")
        .header(
            "x-brokkr-withdrawn-stacks",
            "00000000-0000-0000-0000-000000000001",
        )
        .content_type("application/json")
        .body("[]")
}

/// `POST /webhooks/{id}/test` as the broker answers it: by the id's last digit, a receiver
/// that accepted (200), one that failed (400 with a `WebhookTestResult`), or a broker that
/// cannot send at all (400 with its `{"error": ...}`).
#[handler]
fn test_webhook(Path(id): Path<String>) -> Response {
    let json = |status: StatusCode, body: serde_json::Value| {
        Response::builder()
            .status(status)
            .content_type("application/json")
            .body(body.to_string())
    };
    match id.chars().last() {
        Some('0') => json(
            StatusCode::OK,
            serde_json::json!({"success": true, "status_code": 204, "message": "Test delivery successful"}),
        ),
        Some('1') => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"success": false, "status_code": 502, "error": "Endpoint returned HTTP 502", "body": "upstream down"}),
        ),
        _ => error(
            StatusCode::BAD_REQUEST,
            "no webhook encryption key is configured",
        ),
    }
}

async fn serve() -> (String, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let app = Route::new()
        .at("/api/v1/stacks", get(list_stacks).post(create_stack))
        .at("/api/v1/stacks/:id", get(get_stack))
        .at("/api/v1/agents", get(slow))
        .at("/api/v1/agents/:id/target-state", get(target_state))
        .at("/api/v1/webhooks/:id/test", poem::post(test_webhook))
        .data(counters.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("tcp address");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), counters)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn idempotent_calls_are_retried_through_503_honouring_retry_after() {
    let (base, counters) = serve().await;
    let client = Client::builder(&base)
        .pak("brokkr_BRtest1234_abcdefghijklmnopqrstuvwx")
        .retry(fast_retries())
        .build()
        .unwrap();
    let started = Instant::now();
    let stacks = client.list_stacks().await.expect("third attempt succeeds");
    assert!(stacks.is_empty());
    assert_eq!(counters.list.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_post_answered_500_is_not_repeated_and_keeps_the_brokers_message() {
    let (base, counters) = serve().await;
    let client = Client::builder(&base)
        .pak("p")
        .retry(fast_retries())
        .build()
        .unwrap();
    let err = client
        .create_stack(&NewStack {
            name: "web".into(),
            description: None,
            generator_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(counters.create.load(Ordering::SeqCst), 1);
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.to_string(), "disk full (HTTP 500)");
    let missing = client.get_stack(uuid::Uuid::nil()).await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(
        missing.to_string().starts_with("Stack 00000000"),
        "{missing}"
    );
}

#[tokio::test]
async fn target_state_uses_etags_and_long_polls_past_the_request_timeout() {
    let (base, _) = serve().await;
    let client = Client::builder(&base)
        .pak("p")
        .timeout(Duration::from_secs(1))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let agent = uuid::Uuid::new_v4();
    let TargetState::Changed {
        objects,
        etag,
        withdrawn_stacks,
    } = client.target_state(agent, false, None, None).await.unwrap()
    else {
        panic!("expected a changed state without an ETag");
    };
    assert!(objects.is_empty());
    assert_eq!(etag, "\"v1\"");
    assert_eq!(withdrawn_stacks.len(), 1);
    // The server holds the poll for 2 s, longer than the 1 s request timeout: the wait extends it.
    let answer = client
        .target_state(agent, false, Some(&etag), Some(2))
        .await
        .unwrap();
    assert!(matches!(answer, TargetState::NotModified { etag } if etag == "\"v1\""));
}

#[tokio::test]
async fn timeouts_and_unreachable_brokers_are_transient_errors_without_the_pak() {
    let (base, counters) = serve().await;
    let pak = "brokkr_BRsecret12_abcdefghijklmnopqrstuvwx";
    let client = Client::builder(&base)
        .pak(pak)
        .timeout(Duration::from_millis(300))
        .retry(RetryPolicy {
            max_retries: 1,
            ..fast_retries()
        })
        .build()
        .unwrap();
    let err = client.list_agents().await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(
        counters.slow.load(Ordering::SeqCst),
        2,
        "one retry after a timeout"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = Client::builder(&format!("http://127.0.0.1:{port}"))
        .pak(pak)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = gone.list_stacks().await.unwrap_err();
    assert!(
        err.is_transient() && matches!(err, Error::Connect(_)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret12"), "{err}");
    assert!(!format!("{gone:?}").contains("secret12"));
}

#[tokio::test]
async fn a_webhook_test_returns_the_receivers_answer_even_when_it_failed() {
    let (base, _) = serve().await;
    let client = Client::builder(&base).pak("p").build().unwrap();
    let id = |last: u128| uuid::Uuid::from_u128(last);

    let accepted = client.test_webhook(id(0)).await.expect("a 200 answer");
    assert!(accepted.success);
    assert_eq!(accepted.status_code, Some(204));

    // The receiver failed: the broker's 400 carries the result, which the caller gets.
    let failed = client
        .test_webhook(id(1))
        .await
        .expect("a failed delivery is a result, not an error");
    assert!(!failed.success);
    assert_eq!(failed.status_code, Some(502));
    assert_eq!(failed.body.as_deref(), Some("upstream down"));
    assert_eq!(failed.error.as_deref(), Some("Endpoint returned HTTP 502"));

    // A 400 of another shape stays an error with the broker's message.
    let err = client.test_webhook(id(2)).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.to_string(),
        "no webhook encryption key is configured (HTTP 400)"
    );
}
