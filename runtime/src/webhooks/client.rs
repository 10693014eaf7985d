//! The HTTP client that sends webhooks: no redirects, a timeout per subscription, and a DNS
//! resolver that refuses destinations in restricted ranges (loopback, private, link-local,
//! multicast, ...) unless `webhooks.allowed_networks` allows them.
//!
//! IP-literal hosts never reach a resolver, so [`DeliveryClient::check_url`] checks them (and
//! the scheme) before every send; host names are checked on every address they resolve to, at
//! connection time, so a DNS answer cannot smuggle in an internal address. Redirects are not
//! followed: a 3xx is a failed attempt like any other non-2xx answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::destinations::{DestinationError, DestinationPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Brokkr-Hookshot/", env!("CARGO_PKG_VERSION"));

struct PolicyResolver {
    policy: Arc<DestinationPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| policy.check_ip(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let reason = resolved
                    .first()
                    .and_then(|a| policy.check_ip(a.ip()).err())
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no addresses".into());
                return Err(format!("destination refused: {reason}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Sends deliveries under the destination policy.
#[derive(Clone)]
pub struct DeliveryClient {
    client: reqwest::Client,
    policy: Arc<DestinationPolicy>,
}

impl DeliveryClient {
    /// A client enforcing `policy`.
    pub fn new(policy: DestinationPolicy) -> reqwest::Result<Self> {
        Self::build(policy, reqwest::Client::builder())
    }

    /// A client for the agent, which delivers to endpoints inside its own cluster (private
    /// addresses are what it is for): every address is allowed, and proxies from the
    /// environment are not used. Scheme, host and credentials are still checked.
    pub fn in_cluster() -> reqwest::Result<Self> {
        let everywhere = ["0.0.0.0/0", "::/0"].map(|n| n.to_owned());
        let policy = DestinationPolicy::from_networks(&everywhere).unwrap_or_default();
        Self::build(
            policy,
            reqwest::Client::builder()
                .no_proxy()
                .pool_idle_timeout(Duration::from_secs(30)),
        )
    }

    fn build(policy: DestinationPolicy, builder: reqwest::ClientBuilder) -> reqwest::Result<Self> {
        let policy = Arc::new(policy);
        let client = builder
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(32)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// Checks a decrypted URL before sending (scheme, credentials, IP literals).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, DestinationError> {
        self.policy.check_url(url)
    }

    /// The underlying client.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }
}
