//! A minimal HTTP/1.1 client: one `GET`, `Connection: close`, identity or chunked bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::errors::Error;
use crate::url::Url;

/// The most of a response body the client keeps; the rest is discarded.
pub const MAX_BODY: usize = 1024 * 1024;

/// What a server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, decoded from chunked transfer encoding, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET url` and reads the response, each network step bounded by `timeout`.
///
/// Names resolve through the C library's resolver (`getaddrinfo`), so in-cluster DNS names
/// work in a static binary; every resolved address is tried in turn.
pub fn get(url: &Url, timeout: Duration) -> Result<Response, Error> {
    let addresses: Vec<_> = (url.host_for_resolver(), url.port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: url.authority(),
            source,
        })?
        .collect();
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return exchange(stream, url, timeout),
            Err(source) => last_error = Some(Error::io(format!("connecting to {address}"), source)),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Resolve {
        host: url.authority(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    }))
}

fn exchange(stream: TcpStream, url: &Url, timeout: Duration) -> Result<Response, Error> {
    let peer = url.authority();
    let on = |action: &str| {
        let peer = peer.clone();
        let action = action.to_owned();
        move |source| Error::io(format!("{action} {peer}"), source)
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(on("configuring the connection to"))?;
    let host = if url.port == 80 {
        url.host.clone()
    } else {
        url.authority()
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: chorale-probe/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target,
        env!("CARGO_PKG_VERSION"),
    );
    (&stream)
        .write_all(request.as_bytes())
        .map_err(on("sending the request to"))?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader).map_err(on("reading the response from"))?;
    let (status, headers) = parse_head(&head)?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let chunked = header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| Error::MalformedResponse(format!("bad Content-Length `{length}`")))?;
        read_limited(&mut reader.take(length as u64)).map_err(on("reading the body from"))?
    } else {
        read_limited(&mut reader).map_err(on("reading the body from"))?
    };
    Ok(Response { status, body })
}

/// Reads the status line and headers, up to the empty line.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the connection closed before the response headers ended",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        if lines.len() > 200 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "more than 200 header lines",
            ));
        }
        lines.push(line);
    }
}

type Headers = Vec<(String, String)>;

fn parse_head(lines: &[String]) -> Result<(u16, Headers), Error> {
    let status_line = lines
        .first()
        .ok_or_else(|| Error::MalformedResponse("the status line is missing".to_owned()))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(Error::MalformedResponse(format!(
            "the status line `{status_line}` does not start with HTTP/1.x"
        )));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or_else(|| {
            Error::MalformedResponse(format!(
                "the status line `{status_line}` has no status code"
            ))
        })?;
    let headers = lines[1..]
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

fn read_limited(reader: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    reader.take(MAX_BODY as u64).read_to_end(&mut body)?;
    std::io::copy(reader, &mut std::io::sink())?;
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, Error> {
    let failed = |source| Error::io("reading a chunked body", source);
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).map_err(failed)?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            Error::MalformedResponse(format!("bad chunk size `{}`", size_line.trim()))
        })?;
        if size == 0 {
            // Trailers end with an empty line; a server that closes early is fine too.
            let mut trailer = String::new();
            while reader.read_line(&mut trailer).map_err(failed)? > 2 {
                trailer.clear();
            }
            return Ok(body);
        }
        let mut chunk = vec![0; size];
        reader.read_exact(&mut chunk).map_err(failed)?;
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..size.min(room)]);
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).map_err(failed)?;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    use super::{Response, get};
    use crate::url::Url;

    /// Serves one connection with a canned response and returns the request it received.
    fn serve_once(response: &'static [u8]) -> (Url, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let read = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..read]);
            }
            stream.write_all(response).unwrap();
            String::from_utf8(request).unwrap()
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/ready?x=1")).unwrap();
        (url, handle)
    }

    #[test]
    fn reads_a_content_length_body_and_sends_a_proper_request() {
        let (url, server) =
            serve_once(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nnope!");
        let response = get(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(
            response,
            Response {
                status: 503,
                body: b"nope!".to_vec()
            }
        );
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /ready?x=1 HTTP/1.1\r\nHost: 127.0.0.1:"),
            "{request}"
        );
        assert!(request.contains("Connection: close\r\n"));
    }

    #[test]
    fn decodes_chunked_bodies() {
        let (url, server) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia!\r\n0\r\n\r\n",
        );
        let response = get(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "Wikipedia!");
        server.join().unwrap();
    }

    #[test]
    fn reads_to_the_end_without_a_length() {
        let (url, server) = serve_once(b"HTTP/1.0 200 OK\r\n\r\nuntil close");
        assert_eq!(
            get(&url, Duration::from_secs(5)).unwrap().text(),
            "until close"
        );
        server.join().unwrap();
    }

    #[test]
    fn rejects_what_is_not_http() {
        let (url, server) = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n");
        let error = get(&url, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(error.contains("does not start with HTTP/1.x"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn reports_a_refused_connection() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let error = get(&url, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("connecting to 127.0.0.1:{port} failed")),
            "{error}"
        );
    }
}
