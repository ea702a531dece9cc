//! Which proxy, if any, a request goes through, as docker and cosign decide it: the
//! environment's `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (or their lowercase forms, which
//! win), except for loopback hosts (never proxied) and hosts `NO_PROXY` names. One function
//! decides both where a request goes ([`reqwest::Proxy::custom`]) and what a connection error
//! says, so a failure through a proxy names it.
//!
//! `NO_PROXY` entries are comma- or space-separated: `*` (no proxy at all), a host name that
//! matches itself and its subdomains (`example.com`, `.example.com`), an IP address, or an
//! IP address with a port. CIDR ranges are not supported and match nothing.

use std::sync::OnceLock;

use reqwest::Url;

use crate::reference::is_loopback_registry;

/// The proxy settings of the environment, read once per process.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    http: Option<Url>,
    https: Option<Url>,
    all: Option<Url>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads the variables with `var` (the environment, in production).
    pub(crate) fn read(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(&name.to_ascii_lowercase())
                .or_else(|| var(name))
                .filter(|v| !v.trim().is_empty())
        };
        let url = |name: &str| {
            get(name).and_then(|value| {
                let value = value.trim();
                let text = if value.contains("://") {
                    value.to_owned()
                } else {
                    format!("http://{value}")
                };
                match Url::parse(&text) {
                    Ok(url) => Some(url),
                    Err(e) => {
                        tracing::warn!("{name} is not a proxy URL ({e}); it is not used");
                        None
                    }
                }
            })
        };
        Self {
            http: url("HTTP_PROXY"),
            https: url("HTTPS_PROXY"),
            all: url("ALL_PROXY"),
            no_proxy: get("NO_PROXY")
                .unwrap_or_default()
                .split([',', ' '])
                .map(|entry| entry.trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        }
    }

    /// The environment's settings, read once.
    pub(crate) fn get() -> &'static Self {
        static ENV: OnceLock<ProxyEnv> = OnceLock::new();
        ENV.get_or_init(|| Self::read(|name| std::env::var(name).ok()))
    }

    /// Whether any proxy is set: without one, every request goes direct.
    pub(crate) fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.all.is_some()
    }

    /// The proxy a request to `url` goes through, or `None` for a direct connection.
    pub(crate) fn proxy_for(&self, url: &Url) -> Option<&Url> {
        let host = url.host_str()?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if is_loopback_registry(host) || self.excluded(url, bare) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_ref().or(self.all.as_ref()),
            "http" => self.http.as_ref().or(self.all.as_ref()),
            _ => None,
        }
    }

    /// Whether `NO_PROXY` names the host (or host and port) of `url`.
    fn excluded(&self, url: &Url, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let with_port = url
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        self.no_proxy.iter().any(|entry| {
            if entry == "*" || Some(entry) == with_port.as_ref() {
                return true;
            }
            let name = entry.trim_start_matches('.');
            host == name || host.ends_with(&format!(".{name}"))
        })
    }
}

/// A proxy URL as it may be shown: without user name or password.
pub(crate) fn shown(proxy: &Url) -> String {
    let mut shown = proxy.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxyEnv::read(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn via(env: &ProxyEnv, url: &str) -> Option<String> {
        env.proxy_for(&Url::parse(url).unwrap()).map(Url::to_string)
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env(&[
            ("HTTP_PROXY", "http://proxy:3128"),
            ("ALL_PROXY", "proxy:3128"),
        ]);
        for url in [
            "http://127.0.0.1:5000/v2/",
            "http://localhost:5000/v2/",
            "http://[::1]:5000/v2/",
            "https://127.9.9.9/v2/",
        ] {
            assert_eq!(via(&e, url), None, "{url}");
        }
        assert_eq!(
            via(&e, "http://registry.example/v2/").as_deref(),
            Some("http://proxy:3128/")
        );
    }

    #[test]
    fn the_scheme_picks_the_proxy_and_lowercase_wins() {
        let e = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("ALL_PROXY", "http://all:1"),
        ]);
        assert_eq!(
            via(&e, "https://r.example/").as_deref(),
            Some("http://lower:1/")
        );
        assert_eq!(
            via(&e, "http://r.example/").as_deref(),
            Some("http://all:1/")
        );
        assert_eq!(via(&ProxyEnv::default(), "https://r.example/"), None);
    }

    #[test]
    fn any_says_whether_a_proxy_is_set() {
        assert!(!ProxyEnv::default().any());
        assert!(!env(&[("NO_PROXY", "*"), ("HTTP_PROXY", " ")]).any());
        assert!(!env(&[("HTTPS_PROXY", "http://[bad")]).any());
        for name in ["HTTP_PROXY", "https_proxy", "ALL_PROXY"] {
            assert!(env(&[(name, "proxy:3128")]).any(), "{name}");
        }
    }

    #[test]
    fn no_proxy_names_hosts_domains_and_ports() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "internal.example, .corp.example,10.0.0.5,mirror.example:8443",
            ),
        ]);
        for direct in [
            "https://internal.example/",
            "https://a.internal.example/",
            "https://corp.example/",
            "https://x.corp.example/",
            "https://10.0.0.5/",
            "https://mirror.example:8443/",
        ] {
            assert_eq!(via(&e, direct), None, "{direct}");
        }
        for proxied in [
            "https://notinternal.example/",
            "https://mirror.example/",
            "https://10.0.0.6/",
        ] {
            assert!(via(&e, proxied).is_some(), "{proxied}");
        }
        let all = env(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
        assert_eq!(via(&all, "https://r.example/"), None);
    }

    #[test]
    fn a_shown_proxy_has_no_credentials() {
        let proxy = Url::parse("http://user:secret@proxy.example:3128").unwrap();
        assert_eq!(shown(&proxy), "http://proxy.example:3128/");
    }
}
