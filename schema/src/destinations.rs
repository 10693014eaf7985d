//! Where webhooks may be delivered: the URL rules and the address policy against server-side
//! request forgery.
//!
//! A destination in a loopback, private, link-local, multicast, unspecified, shared (CGNAT) or
//! reserved range is refused unless it lies inside a network listed in
//! `webhooks.allowed_networks` (tests allow `127.0.0.0/8`). IPv4 addresses embedded in IPv6
//! (`::ffff:a.b.c.d`, `64:ff9b::a.b.c.d`) are judged as the IPv4 address they carry.
//!
//! The API checks URLs when a subscription is created or updated ([`DestinationPolicy::check_url`]):
//! an IP literal is judged at once, and `localhost` names are judged as loopback, but other host
//! names are **not resolved** then (DNS can change at any time). The delivering side must call
//! [`DestinationPolicy::check_ip`] on every address a name resolves to, and on every redirect
//! target, right before it connects.
//!
//! ```
//! use brokkr_schema::destinations::DestinationPolicy;
//! let policy = DestinationPolicy::default();
//! assert!(policy.check_url("https://hooks.example.com/brokkr").is_ok());
//! assert!(policy.check_url("http://10.1.2.3/hook").is_err());
//! let tests = DestinationPolicy::from_networks(&["127.0.0.0/8".to_string()]).unwrap();
//! assert!(tests.check_url("http://127.0.0.1:8080/hook").is_ok());
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

/// Longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// A range of addresses that is not a public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictedRange {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7 (and the old site-local fec0::/10).
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedAddressSpace,
    /// "This network" 0.0.0.0/8, 240.0.0.0/4 and broadcast, protocol assignments, benchmarking
    /// and documentation ranges, deprecated IPv4-compatible IPv6.
    Reserved,
}

impl fmt::Display for RestrictedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestrictedRange::Loopback => "loopback",
            RestrictedRange::Private => "private",
            RestrictedRange::LinkLocal => "link-local",
            RestrictedRange::Multicast => "multicast",
            RestrictedRange::Unspecified => "unspecified",
            RestrictedRange::SharedAddressSpace => "shared (carrier-grade NAT)",
            RestrictedRange::Reserved => "reserved",
        })
    }
}

/// The restricted range `ip` belongs to, or `None` for a public address.
pub fn restricted_range(ip: IpAddr) -> Option<RestrictedRange> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn restricted_v4(ip: Ipv4Addr) -> Option<RestrictedRange> {
    use RestrictedRange::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    let table: &[([u8; 4], u32, RestrictedRange)] = &[
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([224, 0, 0, 0], 4, Multicast),
        ([0, 0, 0, 0], 8, Reserved),
        ([240, 0, 0, 0], 4, Reserved),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, range)| *range)
}

fn restricted_v6(ip: Ipv6Addr) -> Option<RestrictedRange> {
    use RestrictedRange::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return restricted_v4(v4);
    }
    let s = ip.segments();
    match s[0] {
        0 if s[1..6].iter().all(|&x| x == 0) => Some(Reserved), // ::a.b.c.d (deprecated)
        0x0100 if s[1..4].iter().all(|&x| x == 0) => Some(Reserved), // 100::/64 discard
        0x2001 if s[1] == 0x0db8 => Some(Reserved),             // documentation
        x if x & 0xfe00 == 0xfc00 => Some(Private),             // fc00::/7
        x if x & 0xffc0 == 0xfec0 => Some(Private),             // fec0::/10
        x if x & 0xffc0 == 0xfe80 => Some(LinkLocal),           // fe80::/10
        x if x & 0xff00 == 0xff00 => Some(Multicast),           // ff00::/8
        _ => None,
    }
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:0:0/96`) or NAT64 (`64:ff9b::/96`)
/// IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        let o = ip.octets();
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    None
}

/// Parses a network of `webhooks.allowed_networks`: a CIDR (`127.0.0.0/8`, `fd00::/8`) or a
/// single address.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not a network in CIDR notation (e.g. 10.0.0.0/8)"))
}

/// Why a URL or an address is not an acceptable destination. Messages never repeat the URL,
/// which may carry a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("URL is required")]
    Empty,
    #[error("URL cannot be longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("URL is not a valid URL")]
    Invalid,
    #[error("URL must start with http:// or https://")]
    Scheme,
    #[error("URL must have a host")]
    NoHost,
    #[error("URL must not contain credentials (user:password@); use auth_header instead")]
    Credentials,
    #[error(
        "URL points to a {0} address, which is refused unless it is inside a network listed in webhooks.allowed_networks"
    )]
    Restricted(RestrictedRange),
}

/// The destination rules in force: the restricted ranges, minus the allowed networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allowed: Vec<IpNet>,
}

impl DestinationPolicy {
    /// A policy allowing `allowed` on top of the public addresses.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// A policy from the text of `webhooks.allowed_networks`.
    pub fn from_networks(allowed: &[String]) -> Result<Self, String> {
        Ok(Self::new(
            allowed
                .iter()
                .map(|n| parse_network(n))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn allows(&self, ip: IpAddr) -> bool {
        let mapped = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
    }

    /// Accepts `ip` if it is public or inside an allowed network.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), DestinationError> {
        match restricted_range(ip) {
            Some(range) if !self.allows(ip) => Err(DestinationError::Restricted(range)),
            _ => Ok(()),
        }
    }

    /// Checks a webhook URL: http(s), a host, no credentials, at most [`MAX_URL_LEN`] bytes, and
    /// an IP-literal or `localhost` host that the policy accepts. Host names are not resolved.
    /// Returns the parsed (normalised) URL.
    pub fn check_url(&self, text: &str) -> Result<Url, DestinationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DestinationError::Empty);
        }
        if text.len() > MAX_URL_LEN {
            return Err(DestinationError::TooLong);
        }
        let lower = text.to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err(DestinationError::Scheme);
        }
        let url = Url::parse(text).map_err(|e| match e {
            url::ParseError::EmptyHost => DestinationError::NoHost,
            _ => DestinationError::Invalid,
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        if url.as_str().len() > MAX_URL_LEN {
            return Err(DestinationError::TooLong);
        }
        match url.host() {
            None => return Err(DestinationError::NoHost),
            Some(Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4))?,
            Some(Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6))?,
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                if name.is_empty() {
                    return Err(DestinationError::NoHost);
                }
                // `localhost` names always mean this machine (RFC 6761).
                if name == "localhost" || name.ends_with(".localhost") {
                    let v4 = self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
                    let v6 = self.check_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
                    v4.or(v6)?;
                }
            }
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_classified() {
        use RestrictedRange::*;
        for (addr, want) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.9", Some(Loopback)),
            ("10.2.3.4", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Reserved)),
            ("255.255.255.255", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("::7f00:1", Some(Reserved)),
            ("2001:db8::1", Some(Reserved)),
            ("2606:4700::1111", None),
        ] {
            assert_eq!(restricted_range(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn allowed_networks_open_restricted_ranges() {
        let policy = DestinationPolicy::from_networks(&["127.0.0.0/8".into()]).unwrap();
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::1")).is_err());
        assert!(policy.check_ip(ip("10.0.0.1")).is_err());
        assert!(policy.check_ip(ip("8.8.8.8")).is_ok());
        let single = DestinationPolicy::from_networks(&["10.0.0.5".into()]).unwrap();
        assert!(single.check_ip(ip("10.0.0.5")).is_ok());
        assert!(single.check_ip(ip("10.0.0.6")).is_err());
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("nope").is_err());
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap(),
            "10.0.0.0/8".parse().unwrap()
        );
    }

    #[test]
    fn urls_are_checked() {
        let p = DestinationPolicy::default();
        assert!(p.check_url("https://hooks.example.com/x?y=1").is_ok());
        assert!(p.check_url("HTTP://hooks.example.com").is_ok());
        assert_eq!(p.check_url("  "), Err(DestinationError::Empty));
        assert_eq!(
            p.check_url("ftp://hooks.example.com"),
            Err(DestinationError::Scheme)
        );
        assert_eq!(
            p.check_url("hooks.example.com"),
            Err(DestinationError::Scheme)
        );
        assert_eq!(p.check_url("http://"), Err(DestinationError::NoHost));
        assert_eq!(
            p.check_url("https://user:pw@hooks.example.com/"),
            Err(DestinationError::Credentials)
        );
        assert_eq!(
            p.check_url(&format!("https://h.example/{}", "a".repeat(MAX_URL_LEN))),
            Err(DestinationError::TooLong)
        );
        for refused in [
            "http://127.0.0.1:9000/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://localhost:8080/",
            "http://api.localhost./",
            "http://169.254.169.254/latest/meta-data",
            "http://192.168.0.10/",
            "http://[fd00::1]/",
            "http://100.64.1.1/",
            "http://0.0.0.0/",
        ] {
            assert!(
                matches!(p.check_url(refused), Err(DestinationError::Restricted(_))),
                "{refused}"
            );
        }
        let loopback = DestinationPolicy::from_networks(&["127.0.0.0/8".into()]).unwrap();
        assert!(loopback.check_url("http://127.0.0.1:9000/").is_ok());
        assert!(loopback.check_url("http://localhost:9000/").is_ok());
        assert_eq!(
            loopback.check_url("http://2130706433/").unwrap().as_str(),
            "http://127.0.0.1/"
        );
    }

    #[test]
    fn errors_do_not_repeat_the_url() {
        let p = DestinationPolicy::default();
        let err = p
            .check_url("http://10.9.8.7/token-abc")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("10.9.8.7") && !err.contains("token-abc"),
            "{err}"
        );
    }
}
