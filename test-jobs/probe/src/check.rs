//! URL checks: `URL[=STATUS][~BODY_FRAGMENT]`, what they expect and how a response meets it.

use std::fmt;
use std::path::Path;

use crate::client::Response;
use crate::errors::Error;
use crate::url::Url;

/// Which status codes a check accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code, written `=200`.
    Exact(u16),
    /// Any code of this class, written `=2xx` (the default is `2xx`).
    Class(u8),
}

impl StatusMatch {
    /// Parses `200` or `2xx`; `None` when the text is neither.
    fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 3 || !(b'1'..=b'5').contains(&bytes[0]) {
            return None;
        }
        if text[1..].eq_ignore_ascii_case("xx") {
            return Some(Self::Class(bytes[0] - b'0'));
        }
        text.parse().ok().map(Self::Exact)
    }

    /// Whether `status` is accepted.
    pub fn accepts(self, status: u16) -> bool {
        match self {
            Self::Exact(code) => status == code,
            Self::Class(class) => status / 100 == u16::from(class),
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(code) => write!(f, "{code}"),
            Self::Class(class) => write!(f, "{class}xx"),
        }
    }
}

/// One URL check: fetch `url`, expect `status` and, if given, `body` somewhere in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The URL to fetch.
    pub url: Url,
    /// The accepted status codes.
    pub status: StatusMatch,
    /// A fragment the body must contain.
    pub body: Option<String>,
}

impl Check {
    /// Parses `URL[=STATUS][~BODY_FRAGMENT]`.
    ///
    /// `STATUS` is a code (`200`) or a class (`2xx`); without it any 2xx passes. The URL ends
    /// at the first `=STATUS` that is followed by the end or by `~`; without a status, at
    /// the first `~`. So a URL may hold `=` in its query (`?a=b`), and a `~` in a URL is
    /// written `%7E` (equivalent by RFC 3986).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidCheck {
            spec: spec.to_owned(),
            reason,
        };
        let status_marker = spec.match_indices('=').find_map(|(index, _)| {
            let candidate = spec.get(index + 1..index + 4)?;
            let after = &spec[index + 4..];
            let status = StatusMatch::parse(candidate)?;
            (after.is_empty() || after.starts_with('~')).then_some((index, status))
        });
        let (url, status, rest) = match status_marker {
            Some((index, status)) => (&spec[..index], status, &spec[index + 4..]),
            None => match spec.find('~') {
                Some(index) => (&spec[..index], StatusMatch::Class(2), &spec[index..]),
                None => (spec, StatusMatch::Class(2), ""),
            },
        };
        let body = match rest.strip_prefix('~') {
            Some("") => return Err(invalid("the body fragment after `~` is empty".to_owned())),
            Some(fragment) => Some(fragment.to_owned()),
            None => None,
        };
        let url = Url::parse(url).map_err(|error| invalid(error.to_string()))?;
        Ok(Self { url, status, body })
    }

    /// Reads checks from a file: one specification per line; blank lines and lines starting
    /// with `#` are ignored. Errors name the file and line.
    pub fn parse_file(path: &Path) -> Result<Vec<Self>, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::file(path, source))?;
        text.lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .map(|(number, line)| {
                Self::parse(line)
                    .map_err(|error| Error::Usage(format!("{}:{number}: {error}", path.display())))
            })
            .collect()
    }

    /// Compares a response with the expectation; `Err` says what was expected and what came.
    pub fn evaluate(&self, response: &Response) -> Result<(), String> {
        if !self.status.accepts(response.status) {
            return Err(format!(
                "expected status {}, got {}",
                self.status, response.status
            ));
        }
        if let Some(fragment) = &self.body
            && !response.text().contains(fragment.as_str())
        {
            return Err(format!(
                "expected the body to contain {fragment:?}, got {:?}",
                excerpt(&response.text())
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET {} = {}", self.url, self.status)?;
        if let Some(fragment) = &self.body {
            write!(f, " ~ {fragment:?}")?;
        }
        Ok(())
    }
}

/// The start of a body, for messages.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Check, StatusMatch};
    use crate::client::Response;

    fn check(spec: &str) -> (String, StatusMatch, Option<String>) {
        let check = Check::parse(spec).unwrap();
        (check.url.to_string(), check.status, check.body)
    }

    #[test]
    fn parses_url_status_and_fragment() {
        let cases = [
            (
                "http://api:8080/readyz",
                "http://api:8080/readyz",
                StatusMatch::Class(2),
                None,
            ),
            (
                "http://api/=503",
                "http://api/",
                StatusMatch::Exact(503),
                None,
            ),
            (
                "http://api/=4xx",
                "http://api/",
                StatusMatch::Class(4),
                None,
            ),
            (
                "http://api/~\"name\":\"api\"",
                "http://api/",
                StatusMatch::Class(2),
                Some("\"name\":\"api\""),
            ),
            (
                "http://api/=200~ok",
                "http://api/",
                StatusMatch::Exact(200),
                Some("ok"),
            ),
            (
                "http://api/x?a=b&c=1=201",
                "http://api/x?a=b&c=1",
                StatusMatch::Exact(201),
                None,
            ),
            (
                "http://api/x?code=200=200",
                "http://api/x?code=200",
                StatusMatch::Exact(200),
                None,
            ),
            (
                "http://api/x?code=200~a=b~c",
                "http://api/x?code",
                StatusMatch::Exact(200),
                Some("a=b~c"),
            ),
            (
                "http://api/=2000",
                "http://api/=2000",
                StatusMatch::Class(2),
                None,
            ),
            (
                "http://api/%7Euser=200",
                "http://api/%7Euser",
                StatusMatch::Exact(200),
                None,
            ),
        ];
        for (spec, url, status, body) in cases {
            assert_eq!(
                check(spec),
                (url.to_owned(), status, body.map(str::to_owned)),
                "{spec}"
            );
        }
    }

    #[test]
    fn explains_bad_specifications() {
        let cases = [
            ("http://api/~", "the body fragment after `~` is empty"),
            ("https://api/=200", "https is not supported"),
            ("api/=200", "it has no scheme"),
            ("http://api:99999/", "is not a number 1-65535"),
        ];
        for (spec, reason) in cases {
            let message = Check::parse(spec).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("the check `{spec}` is invalid: ")),
                "{message}"
            );
            assert!(message.contains(reason), "{message}");
            assert!(
                message.ends_with("e.g. http://api:8080/readyz=200~ok"),
                "{message}"
            );
        }
    }

    #[test]
    fn reads_a_checks_file_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checks");
        std::fs::write(
            &path,
            "# the demo\n\nhttp://web:8080/readyz=200\n  http://api/~ok  \n",
        )
        .unwrap();
        let checks = Check::parse_file(&path).unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].body.as_deref(), Some("ok"));

        std::fs::write(&path, "http://web/\nftp://web/\n").unwrap();
        let message = Check::parse_file(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}:2: the check `ftp://web/`", path.display())),
            "{message}"
        );

        let missing = dir.path().join("missing");
        let message = Check::parse_file(&missing).unwrap_err().to_string();
        assert!(
            message.starts_with(&missing.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn evaluates_status_then_body() {
        let response = |status, body: &str| Response {
            status,
            body: body.as_bytes().to_vec(),
        };
        let check = Check::parse("http://api/=200~ready").unwrap();
        assert_eq!(check.evaluate(&response(200, "all ready")), Ok(()));
        assert_eq!(
            check.evaluate(&response(503, "ready")),
            Err("expected status 200, got 503".to_owned())
        );
        assert_eq!(
            check.evaluate(&response(200, "starting")),
            Err("expected the body to contain \"ready\", got \"starting\"".to_owned())
        );
        let any = Check::parse("http://api/").unwrap();
        assert_eq!(any.evaluate(&response(204, "")), Ok(()));
        assert_eq!(
            any.evaluate(&response(302, "")),
            Err("expected status 2xx, got 302".to_owned())
        );
        assert_eq!(check.to_string(), "GET http://api/ = 200 ~ \"ready\"");
    }
}
