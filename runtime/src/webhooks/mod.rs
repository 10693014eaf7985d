//! Sending webhooks, the one implementation the worker (queued deliveries), the broker (test
//! sends) and the agent (deliveries from inside a cluster) share.
//!
//! - [`client`]: the HTTP client: no redirects, a connect timeout, destinations checked under
//!   `webhooks.allowed_networks` after DNS resolution;
//! - [`signing`]: GitHub-style and Standard Webhooks signatures, generated secrets;
//! - [`delivery`]: the headers of a delivery, [`delivery::send`] (one POST, its answer or why
//!   there was none) and the [`delivery::RetrySchedule`] between attempts, built from the
//!   settings in effect at each use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), reqwest::Error> {
//! use std::time::Duration;
//! use brokkr_runtime::webhooks::{client::DeliveryClient, delivery};
//! let client = DeliveryClient::new(Default::default())?;
//! let body = br#"{"event_type":"ping"}"#.to_vec();
//! let headers = delivery::delivery_headers("d-1", "ping", &body, None, Some("s3cret"), 0);
//! let answer = delivery::send(&client, "https://hooks.example.com/x", headers, body,
//!     Duration::from_secs(10)).await;
//! println!("delivered: {}", answer.is_success());
//! # Ok(()) }
//! ```

pub mod client;
pub mod delivery;
pub mod signing;
