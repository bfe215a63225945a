//! `http://` URLs: the only kind the probe speaks (std has no TLS).

use std::fmt;

use crate::errors::Error;

/// A parsed `http://host[:port][/path][?query]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host as written: a name, an IPv4 address or a bracketed IPv6 address (`[::1]`).
    pub host: String,
    /// The port, 80 when the URL names none.
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub target: String,
}

impl Url {
    /// Parses an `http://` URL. `https://` is refused with a clear message; a fragment
    /// (`#…`) is dropped, as an HTTP client never sends it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("it contains whitespace"));
        }
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(invalid(
                    "https is not supported (the probe is std only, without TLS); use http",
                ));
            }
            Some((scheme, _)) => {
                return Err(invalid(&format!("the scheme `{scheme}` is not http")));
            }
            None => return Err(invalid("it has no scheme")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, target) = match rest.find(['/', '?']) {
            Some(index) if rest[index..].starts_with('?') => {
                (&rest[..index], format!("/{}", &rest[index..]))
            }
            Some(index) => (&rest[..index], rest[index..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(invalid("user information (user@host) is not supported"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (address, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("an IPv6 address is missing its closing `]`"))?;
            let port = match after {
                "" => None,
                other => Some(
                    other
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("unexpected text after the IPv6 address"))?,
                ),
            };
            (format!("[{address}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(invalid("the host is empty"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid(&format!("the port `{port}` is not a number 1-65535")))?,
        };
        Ok(Self { host, port, target })
    }

    /// The `host:port` form used to connect and for the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host without IPv6 brackets, as the resolver wants it.
    pub fn host_for_resolver(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 80 {
            write!(f, "http://{}{}", self.host, self.target)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.target)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    fn url(host: &str, port: u16, target: &str) -> Url {
        Url {
            host: host.to_owned(),
            port,
            target: target.to_owned(),
        }
    }

    #[test]
    fn parses_host_port_and_target() {
        assert_eq!(
            Url::parse("http://api:8080/readyz").unwrap(),
            url("api", 8080, "/readyz")
        );
        assert_eq!(Url::parse("http://api").unwrap(), url("api", 80, "/"));
        assert_eq!(
            Url::parse("HTTP://db.demo.svc.cluster.local/a/b?x=1&y=2#frag").unwrap(),
            url("db.demo.svc.cluster.local", 80, "/a/b?x=1&y=2")
        );
        assert_eq!(
            Url::parse("http://127.0.0.1:9?q").unwrap(),
            url("127.0.0.1", 9, "/?q")
        );
        assert_eq!(
            Url::parse("http://[::1]:8080/x").unwrap(),
            url("[::1]", 8080, "/x")
        );
        assert_eq!(Url::parse("http://[::1]").unwrap(), url("[::1]", 80, "/"));
    }

    #[test]
    fn displays_round_trip() {
        for text in [
            "http://api:8080/readyz",
            "http://api/",
            "http://[::1]:1/x?y",
        ] {
            assert_eq!(Url::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Url::parse("http://[::1]:1").unwrap().host_for_resolver(),
            "::1"
        );
    }

    #[test]
    fn refuses_what_it_cannot_fetch() {
        let cases = [
            ("https://api/", "https is not supported"),
            ("ftp://api/", "the scheme `ftp` is not http"),
            ("api:8080/x", "it has no scheme"),
            ("http://:8080/", "the host is empty"),
            ("http://api:http/", "the port `http` is not a number"),
            ("http://api:0/", "the port `0` is not a number"),
            ("http://u:p@api/", "user information"),
            ("http://[::1/", "closing `]`"),
            ("http://a b/", "whitespace"),
        ];
        for (text, expected) in cases {
            let message = Url::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.contains("expected http://host[:port][/path]"));
        }
    }
}
