//! The `serve` subcommand: a small HTTP/1.1 service with liveness, readiness that follows
//! its upstreams, an identity document and a failing route.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

use crate::client;
use crate::errors::Error;
use crate::url::Url;

/// How long an idle keep-alive connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the service is and whom it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The address to listen on.
    pub listen: String,
    /// The name reported by `/`.
    pub name: String,
    /// The version reported by `/`.
    pub version: String,
    /// Upstreams that must answer 2xx before `/readyz` does.
    pub requires: Vec<Url>,
    /// The limit of one upstream request.
    pub requires_timeout: Duration,
}

/// A bound service, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    config: ServeConfig,
    identity: String,
    /// The last readiness seen: 0 unknown, 1 ready, 2 not ready (to log transitions).
    readiness: AtomicU8,
}

impl Server {
    /// Binds the listening socket; `/healthz` answers as soon as [`Server::run`] is called.
    pub fn bind(config: ServeConfig) -> Result<Self, Error> {
        let listener = TcpListener::bind(&config.listen)
            .map_err(|source| Error::io(format!("listening on {}", config.listen), source))?;
        let identity = identity(&config, &hostname(), std::env::vars());
        Ok(Self {
            listener,
            state: Arc::new(State {
                config,
                identity,
                readiness: AtomicU8::new(0),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener
            .local_addr()
            .map_err(|source| Error::io("reading the listening address", source))
    }

    /// Serves forever, one thread per connection.
    pub fn run(self) -> Result<(), Error> {
        let address = self.local_addr()?;
        let config = &self.state.config;
        log(&format!(
            "chorale-probe {}: serving {} {} on http://{address} (requires: {})",
            env!("CARGO_PKG_VERSION"),
            config.name,
            config.version,
            if config.requires.is_empty() {
                "nothing".to_owned()
            } else {
                config
                    .requires
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        for stream in self.listener.incoming() {
            match stream {
                Ok(stream) => {
                    let state = Arc::clone(&self.state);
                    thread::spawn(move || handle(&stream, &state));
                }
                Err(error) => log(&format!("accepting a connection failed: {error}")),
            }
        }
        Ok(())
    }
}

/// Serves the requests of one connection until it closes or asks to.
fn handle(stream: &TcpStream, state: &State) {
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() || stream.set_nodelay(true).is_err() {
        return;
    }
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let (status, content_type, body) = respond(&request, state);
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            _ => "Service Unavailable",
        };
        let connection = if request.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            body.len()
        );
        // One write per response: a head and a body in two small writes would wait on
        // Nagle's algorithm and the peer's delayed ACK (40 ms per request).
        let mut response = head.into_bytes();
        if request.method != "HEAD" {
            response.extend_from_slice(body.as_bytes());
        }
        let mut writer = stream;
        if writer.write_all(&response).is_err() || !request.keep_alive {
            return;
        }
    }
}

struct Request {
    method: String,
    path: String,
    keep_alive: bool,
}

/// Reads one request head (and skips a body); `None` on close, timeout or garbage.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|read| *read > 0)?;
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = 0;
    for _ in 0..200 {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .ok()
            .filter(|read| *read > 0)?;
        let header = header.trim_end();
        if header.is_empty() {
            let mut body = reader.by_ref().take(content_length);
            std::io::copy(&mut body, &mut std::io::sink()).ok()?;
            let path = target.split('?').next().unwrap_or(target).to_owned();
            return Some(Request {
                method: method.to_owned(),
                path,
                keep_alive,
            });
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            keep_alive = match value.to_ascii_lowercase().as_str() {
                "close" => false,
                "keep-alive" => true,
                _ => keep_alive,
            };
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok()?;
        }
    }
    None
}

fn respond(request: &Request, state: &State) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if request.method != "GET" && request.method != "HEAD" {
        return (405, TEXT, "only GET and HEAD are served\n".to_owned());
    }
    match request.path.as_str() {
        "/healthz" => (200, TEXT, "ok\n".to_owned()),
        "/readyz" => match readiness(state) {
            Ok(()) => (200, TEXT, "ready\n".to_owned()),
            Err(reason) => (503, TEXT, format!("not ready: {reason}\n")),
        },
        "/" => (200, "application/json", state.identity.clone()),
        "/fail" => (500, TEXT, "failing on purpose (/fail)\n".to_owned()),
        _ => (
            404,
            TEXT,
            "not found; routes: / /healthz /readyz /fail\n".to_owned(),
        ),
    }
}

/// Asks every upstream; ready when all answer 2xx. Logs each change of readiness.
fn readiness(state: &State) -> Result<(), String> {
    let config = &state.config;
    let verdict = config.requires.iter().try_for_each(|upstream| {
        match client::get(upstream, config.requires_timeout) {
            Ok(response) if (200..300).contains(&response.status) => Ok(()),
            Ok(response) => Err(format!("{upstream} answered {}", response.status)),
            Err(error) => Err(format!("{upstream}: {error}")),
        }
    });
    let now = if verdict.is_ok() { 1 } else { 2 };
    if state.readiness.swap(now, Ordering::Relaxed) != now {
        match &verdict {
            Ok(()) => log(&format!(
                "ready: {} upstream(s) answer",
                config.requires.len()
            )),
            Err(reason) => log(&format!("not ready: {reason}")),
        }
    }
    verdict
}

/// Writes a line to stderr; a closed stderr must not stop the service.
fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The host name: `$HOSTNAME`, else the kernel's, else `unknown`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The JSON document served at `/`: name, version, host name and every `CHORALE_*` variable.
fn identity(
    config: &ServeConfig,
    hostname: &str,
    environment: impl Iterator<Item = (String, String)>,
) -> String {
    let chorale: BTreeMap<String, String> = environment
        .filter(|(key, _)| key.starts_with("CHORALE_"))
        .collect();
    let env = chorale
        .iter()
        .map(|(key, value)| format!("{}:{}", json_string(key), json_string(value)))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\"name\":{},\"version\":{},\"hostname\":{},\"env\":{{{env}}}}}\n",
        json_string(&config.name),
        json_string(&config.version),
        json_string(hostname),
    )
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            control if control < ' ' => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(control));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read, Write};
    use std::net::TcpStream;
    use std::thread;
    use std::time::Duration;

    use super::{ServeConfig, Server, identity};
    use crate::client;
    use crate::url::Url;

    fn config(requires: Vec<Url>) -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:0".to_owned(),
            name: "api".to_owned(),
            version: "1.2.3".to_owned(),
            requires,
            requires_timeout: Duration::from_secs(2),
        }
    }

    fn start(config: ServeConfig) -> String {
        let server = Server::bind(config).unwrap();
        let address = server.local_addr().unwrap();
        thread::spawn(move || server.run());
        format!("http://{address}")
    }

    fn get(url: &str) -> (u16, String) {
        let response = client::get(&Url::parse(url).unwrap(), Duration::from_secs(5)).unwrap();
        (response.status, response.text())
    }

    #[test]
    fn identity_is_json_with_chorale_variables_only() {
        let environment = [
            ("PATH", "/bin"),
            ("CHORALE_COMPONENT", "api"),
            ("CHORALE_NOTE", "say \"hi\"\n\u{1}"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()));
        assert_eq!(
            identity(&config(Vec::new()), "api-0", environment),
            "{\"name\":\"api\",\"version\":\"1.2.3\",\"hostname\":\"api-0\",\"env\":{\"CHORALE_COMPONENT\":\"api\",\"CHORALE_NOTE\":\"say \\\"hi\\\"\\n\\u0001\"}}\n"
        );
    }

    #[test]
    fn answers_its_routes() {
        let base = start(config(Vec::new()));
        assert_eq!(get(&format!("{base}/healthz")), (200, "ok\n".to_owned()));
        assert_eq!(get(&format!("{base}/readyz")), (200, "ready\n".to_owned()));
        assert_eq!(get(&format!("{base}/fail")).0, 500);
        assert_eq!(get(&format!("{base}/nope")).0, 404);
        let (status, body) = get(&format!("{base}/?x=1"));
        assert_eq!(status, 200);
        assert!(
            body.starts_with("{\"name\":\"api\",\"version\":\"1.2.3\","),
            "{body}"
        );
    }

    #[test]
    fn becomes_ready_only_when_its_upstreams_answer() {
        let upstream = Server::bind(config(Vec::new())).unwrap();
        let upstream_address = upstream.local_addr().unwrap();
        let healthz = Url::parse(&format!("http://{upstream_address}/healthz")).unwrap();
        let failing = Url::parse(&format!("http://{upstream_address}/fail")).unwrap();

        // Bound but not yet serving: the upstream accepts no request, so the probe is not ready.
        let mut waiting_config = config(vec![healthz.clone()]);
        waiting_config.requires_timeout = Duration::from_millis(200);
        let waiting = start(waiting_config);
        let (status, body) = get(&format!("{waiting}/readyz"));
        assert_eq!(status, 503);
        assert!(
            body.starts_with(&format!("not ready: {healthz}: ")),
            "{body}"
        );

        thread::spawn(move || upstream.run());
        assert_eq!(get(&format!("{waiting}/readyz")).0, 200);

        let broken = start(config(vec![healthz, failing.clone()]));
        assert_eq!(
            get(&format!("{broken}/readyz")),
            (503, format!("not ready: {failing} answered 500\n"))
        );
    }

    #[test]
    fn keeps_connections_alive_and_answers_head() {
        let base = start(config(Vec::new()));
        let stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        (&stream)
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        BufReader::new(&stream).read_to_string(&mut text).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n\
             HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
    }
}
