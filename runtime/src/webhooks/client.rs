//! The HTTP client that sends webhooks: no redirects, a timeout per subscription, and a DNS
//! resolver that refuses destinations in restricted ranges (loopback, private, link-local,
//! multicast, ...) unless `webhooks.allowed_networks` allows them.
//!
//! IP-literal hosts never reach a resolver, so [`DeliveryClient::check_destination`] checks them
//! (and the scheme) before every send; host names are checked on every address they resolve to,
//! at connection time, so a DNS answer cannot smuggle in an internal address. Redirects are not
//! followed: a 3xx is a failed attempt like any other non-2xx answer.
//!
//! Proxies from the environment (`HTTP_PROXY`, ...) are never used: through one, the proxy
//! would resolve the host and the checks above would see only the proxy. A proxy is used only
//! when `webhooks.proxy` names one; then every address the destination's host resolves to must
//! be allowed before the request is handed to the proxy (which resolves it again: its own
//! access rules are the last line against a DNS answer that changes in between). The proxy's
//! own address is exempt from the policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::destinations::DestinationPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Brokkr-Hookshot/", env!("CARGO_PKG_VERSION"));

struct PolicyResolver {
    policy: Arc<DestinationPolicy>,
    /// The proxy's host name, resolved without the policy.
    proxy_host: Option<String>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        let is_proxy = self
            .proxy_host
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if is_proxy {
                return Ok(Box::new(resolved.into_iter()) as Addrs);
            }
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
    /// Deliveries go through this forward proxy (`webhooks.proxy`).
    proxied: bool,
}

impl DeliveryClient {
    /// A client enforcing `policy`, connecting directly.
    pub fn new(policy: DestinationPolicy) -> reqwest::Result<Self> {
        Self::build(policy, None, reqwest::Client::builder())
    }

    /// A client enforcing `policy`, sending through the forward proxy at `proxy` when given
    /// (`webhooks.proxy`, see [`brokkr_schema::config::WebhookSettings::proxy_url`]).
    pub fn with_proxy(
        policy: DestinationPolicy,
        proxy: Option<&url::Url>,
    ) -> reqwest::Result<Self> {
        Self::build(policy, proxy, reqwest::Client::builder())
    }

    /// A client for the agent, which delivers to endpoints inside its own cluster (private
    /// addresses are what it is for): every address is allowed, and proxies from the
    /// environment are not used. Scheme, host and credentials are still checked.
    pub fn in_cluster() -> reqwest::Result<Self> {
        let everywhere = ["0.0.0.0/0", "::/0"].map(|n| n.to_owned());
        let policy = DestinationPolicy::from_networks(&everywhere).unwrap_or_default();
        Self::build(
            policy,
            None,
            reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(30)),
        )
    }

    fn build(
        policy: DestinationPolicy,
        proxy: Option<&url::Url>,
        builder: reqwest::ClientBuilder,
    ) -> reqwest::Result<Self> {
        let policy = Arc::new(policy);
        let mut builder = builder.no_proxy();
        if let Some(proxy) = proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.as_str())?);
        }
        let client = builder
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(32)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
                proxy_host: proxy.and_then(|p| p.host_str()).map(str::to_owned),
            }))
            .build()?;
        Ok(Self {
            client,
            policy,
            proxied: proxy.is_some(),
        })
    }

    /// Checks a decrypted URL before sending: scheme, credentials and IP literals; through a
    /// proxy also every address its host name resolves to (without one, the resolver checks
    /// them when connecting).
    pub async fn check_destination(&self, url: &str) -> Result<reqwest::Url, String> {
        let url = self.policy.check_url(url).map_err(|e| e.to_string())?;
        if !self.proxied {
            return Ok(url);
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            // An IP literal, checked above.
            return Ok(url);
        };
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if resolved.is_empty() {
            return Err(format!("cannot resolve {host}: no addresses"));
        }
        for address in &resolved {
            self.policy
                .check_ip(address.ip())
                .map_err(|e| format!("destination refused: {e}"))?;
        }
        Ok(url)
    }

    /// The underlying client.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }
}
