//! Webhooks in the store, by what they are:
//!
//! - [`subscriptions`]: who wants which events, with URL, auth header and signing secret
//!   encrypted at rest;
//! - [`fanout`]: an event becomes one delivery per matching subscription (and its job);
//! - [`deliveries`]: the delivery rows: claims and leases (worker or agent), attempts, outcomes,
//!   redelivery, listings.

pub mod deliveries;
pub mod fanout;
pub mod subscriptions;
