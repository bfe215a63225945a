//! The command line: a hand-written parser (the probe has no dependencies) into [`Command`].

use std::path::PathBuf;
use std::time::Duration;

use crate::check::Check;
use crate::checker::Retry;
use crate::errors::Error;
use crate::server::ServeConfig;
use crate::url::Url;

/// The full help text.
pub const HELP: &str = "\
chorale-probe: the small static program run by Chorale's demo images and built-in test jobs.

USAGE:
    chorale-probe serve [--listen ADDR] [--name NAME] [--version VERSION]
                        [--requires URL]... [--requires-timeout DURATION]
    chorale-probe http (--check SPEC | --checks FILE)... [--timeout DURATION]
                       [--interval DURATION] [--request-timeout DURATION]
                       [--junit PATH] [--suite NAME]
    chorale-probe sleep DURATION
    chorale-probe exit CODE [--message TEXT]
    chorale-probe junit --cases N [--fail M] --out PATH [--suite NAME]
    chorale-probe collect DIR [--after-others] [--at-most DURATION]
    chorale-probe --help | --version

serve: an HTTP/1.1 service.
    GET /healthz   200 as soon as the service listens (liveness)
    GET /readyz    200 only while every --requires URL answers 2xx, else 503 with the
                   reason (readiness: a component is ready only after its dependencies)
    GET /          200, JSON: {\"name\", \"version\", \"hostname\", \"env\": every CHORALE_* variable}
    GET /fail      500
    --listen ADDR              address to listen on [default: 0.0.0.0:8080]
    --name NAME                name reported by / [default: $CHORALE_COMPONENT or chorale-probe]
    --version VERSION          version reported by / [default: $CHORALE_VERSION or the probe's]
    --requires URL             an upstream that must answer 2xx (repeatable)
    --requires-timeout DUR     limit of one upstream request [default: 2s]
    The service has no graceful shutdown: it stops when killed. As PID 1 in a container it
    ignores SIGTERM (no handler without libc), so its images set StopSignal to SIGKILL.

http: check URLs, retrying each until it passes or --timeout passes; checks run at once.
    --check SPEC               URL[=STATUS][~BODY_FRAGMENT] (repeatable), e.g.
                               http://api:8080/readyz=200~ready
                               STATUS is a code (200) or a class (2xx) [default: 2xx];
                               BODY_FRAGMENT must appear in the body. The URL ends at the
                               first =STATUS followed by the end or ~, else at the first ~;
                               write a ~ inside the URL as %7E. Only http:// (no TLS).
    --checks FILE              one SPEC per line; blank lines and # comments are ignored
    --timeout DURATION         how long each check may retry [default: 60s]
    --interval DURATION        pause between attempts [default: 500ms]
    --request-timeout DURATION limit of one request [default: 5s]
    --junit PATH               write JUnit XML: one testcase per check, failures say
                               expected vs got
    --suite NAME               the JUnit suite name [default: http-probe]
    Prints one PASS/FAIL line per check; exits 0 only if every check passes.

sleep DURATION: sleep, then exit 0 (a job that hangs until its deadline).
exit CODE: exit with CODE at once, printing --message to stderr (a job that fails).
junit: write a JUnit file with N cases of which the first M fail; exits 1 if M > 0.

collect DIR: print every *.xml file under DIR (recursively, in path order) between marker
    lines, for a collector Pod whose log the pipeline reads:
        === chorale-results begin BYTES NAME ===
        (the file's BYTES bytes, then a newline)
        === chorale-results end NAME ===
        === chorale-results unreadable NAME: REASON ===
        === chorale-results done files=N unreadable=M ===
    NAME is relative to DIR. A missing or empty DIR prints only the done line and exits 0;
    exits 1 when a file could not be read (the others are still printed).
    --after-others             first wait until the pod's other containers have ended (the
                               pod shares its process namespace; the collector runs as its
                               last container), then collect and exit 0 whatever was found
    --at-most DURATION         with --after-others: collect anyway after DURATION
                               [default: 1h]

DURATION is a number with an optional unit: ms, s (default), m or h, e.g. 500ms, 30, 2m.

EXIT STATUS:
    0 success; 1 a check or case failed, or a file could not be collected; 2 bad command
    line; 3 an operational error (cannot listen, cannot write a file); exit CODE exits with
    CODE.
";

/// Exit status: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: a check or a generated case failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: an operational error (cannot listen, cannot write a file).
pub const EXIT_ERROR: u8 = 3;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Print the probe's version.
    Version,
    /// Run the HTTP service.
    Serve(ServeConfig),
    /// Check URLs.
    Http(HttpArgs),
    /// Sleep for a while.
    Sleep(Duration),
    /// Exit with a code.
    Exit {
        /// The exit code.
        code: u8,
        /// A message for stderr.
        message: Option<String>,
    },
    /// Write a synthetic JUnit file.
    Junit(JunitArgs),
    /// Print the JUnit files of a results directory between markers.
    Collect(CollectArgs),
}

/// Arguments of `collect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectArgs {
    /// The results directory.
    pub dir: PathBuf,
    /// Wait until the pod's other containers have ended, at most this long, first.
    pub after_others: Option<Duration>,
}

/// Arguments of `http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpArgs {
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Retry settings.
    pub retry: Retry,
    /// Where to write JUnit XML.
    pub junit: Option<PathBuf>,
    /// The JUnit suite name.
    pub suite: String,
}

/// Arguments of `junit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitArgs {
    /// How many cases.
    pub cases: usize,
    /// How many of them fail (the first ones).
    pub fail: usize,
    /// Where to write.
    pub out: PathBuf,
    /// The suite name.
    pub suite: String,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let Some((command, rest)) = args.split_first() else {
        return Err(usage(
            "a subcommand is required: serve, http, sleep, exit, junit or collect",
        ));
    };
    match command.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "-V" | "--version" => Ok(Command::Version),
        "serve" => parse_serve(rest),
        "http" => parse_http(rest),
        "sleep" => match rest {
            [duration] => Ok(Command::Sleep(parse_duration(duration)?)),
            _ => Err(usage("`sleep` takes one DURATION, e.g. `sleep 1h`")),
        },
        "exit" => parse_exit(rest),
        "junit" => parse_junit(rest),
        "collect" => parse_collect(rest),
        other => Err(usage(&format!(
            "unknown subcommand `{other}`; expected serve, http, sleep, exit, junit or collect"
        ))),
    }
}

fn usage(text: &str) -> Error {
    Error::Usage(text.to_owned())
}

/// Splits `--flag value` and `--flag=value` into pairs; positional arguments have no flag.
fn options(args: &[String], flags: &[&str]) -> Result<Vec<(Option<String>, String)>, Error> {
    let mut pairs = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            pairs.push((Some("--help".to_owned()), String::new()));
            continue;
        }
        if !arg.starts_with("--") {
            pairs.push((None, arg.clone()));
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        if !flags.contains(&flag) {
            return Err(usage(&format!(
                "unknown option `{flag}`; expected one of {}",
                flags.join(", ")
            )));
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .cloned()
                .ok_or_else(|| usage(&format!("`{flag}` needs a value")))?,
        };
        pairs.push((Some(flag.to_owned()), value));
    }
    Ok(pairs)
}

fn wants_help(pairs: &[(Option<String>, String)]) -> bool {
    pairs
        .iter()
        .any(|(flag, _)| flag.as_deref() == Some("--help"))
}

fn parse_serve(args: &[String]) -> Result<Command, Error> {
    let pairs = options(
        args,
        &[
            "--listen",
            "--name",
            "--version",
            "--requires",
            "--requires-timeout",
        ],
    )?;
    if wants_help(&pairs) {
        return Ok(Command::Help);
    }
    let mut config = ServeConfig {
        listen: "0.0.0.0:8080".to_owned(),
        name: env_or("CHORALE_COMPONENT", "chorale-probe"),
        version: env_or("CHORALE_VERSION", env!("CARGO_PKG_VERSION")),
        requires: Vec::new(),
        requires_timeout: Duration::from_secs(2),
    };
    for (flag, value) in pairs {
        match flag.as_deref() {
            Some("--listen") => config.listen = value,
            Some("--name") => config.name = value,
            Some("--version") => config.version = value,
            Some("--requires") => config.requires.push(Url::parse(&value)?),
            Some("--requires-timeout") => config.requires_timeout = parse_duration(&value)?,
            _ => return Err(usage(&format!("`serve` takes no argument `{value}`"))),
        }
    }
    Ok(Command::Serve(config))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn parse_http(args: &[String]) -> Result<Command, Error> {
    let pairs = options(
        args,
        &[
            "--check",
            "--checks",
            "--timeout",
            "--interval",
            "--request-timeout",
            "--junit",
            "--suite",
        ],
    )?;
    if wants_help(&pairs) {
        return Ok(Command::Help);
    }
    let mut parsed = HttpArgs {
        checks: Vec::new(),
        retry: Retry {
            timeout: Duration::from_mins(1),
            interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
        },
        junit: None,
        suite: "http-probe".to_owned(),
    };
    for (flag, value) in pairs {
        match flag.as_deref() {
            Some("--check") => parsed.checks.push(Check::parse(&value)?),
            Some("--checks") => parsed.checks.extend(Check::parse_file(value.as_ref())?),
            Some("--timeout") => parsed.retry.timeout = parse_duration(&value)?,
            Some("--interval") => parsed.retry.interval = parse_duration(&value)?,
            Some("--request-timeout") => parsed.retry.request_timeout = parse_duration(&value)?,
            Some("--junit") => parsed.junit = Some(PathBuf::from(value)),
            Some("--suite") => parsed.suite = value,
            _ => return Err(usage(&format!("`http` takes no argument `{value}`"))),
        }
    }
    if parsed.checks.is_empty() {
        return Err(usage(
            "`http` needs at least one --check SPEC or --checks FILE",
        ));
    }
    Ok(Command::Http(parsed))
}

fn parse_collect(args: &[String]) -> Result<Command, Error> {
    // `--after-others` is a switch; the other options take values.
    let after_others = args.iter().any(|arg| arg == "--after-others");
    let rest: Vec<String> = args
        .iter()
        .filter(|arg| *arg != "--after-others")
        .cloned()
        .collect();
    let pairs = options(&rest, &["--at-most"])?;
    if wants_help(&pairs) {
        return Ok(Command::Help);
    }
    let mut dir = None;
    let mut at_most = None;
    for (flag, value) in pairs {
        match flag.as_deref() {
            None if dir.is_none() => dir = Some(PathBuf::from(value)),
            Some("--at-most") => at_most = Some(parse_duration(&value)?),
            _ => {
                return Err(usage(
                    "`collect` takes one DIR, e.g. `collect /chorale/results`",
                ));
            }
        }
    }
    let dir =
        dir.ok_or_else(|| usage("`collect` takes one DIR, e.g. `collect /chorale/results`"))?;
    Ok(Command::Collect(CollectArgs {
        dir,
        after_others: match (after_others, at_most) {
            (true, limit) => Some(limit.unwrap_or(Duration::from_hours(1))),
            (false, None) => None,
            (false, Some(_)) => return Err(usage("`--at-most` goes with `--after-others`")),
        },
    }))
}

fn parse_exit(args: &[String]) -> Result<Command, Error> {
    let pairs = options(args, &["--message"])?;
    let mut code = None;
    let mut message = None;
    for (flag, value) in pairs {
        match flag.as_deref() {
            Some("--message") => message = Some(value),
            None if code.is_none() => {
                code = Some(value.parse::<u8>().map_err(|_| {
                    usage(&format!("`exit` needs a CODE from 0 to 255, not `{value}`"))
                })?);
            }
            _ => {
                return Err(usage(
                    "`exit` takes one CODE and an optional --message TEXT",
                ));
            }
        }
    }
    let code = code.ok_or_else(|| usage("`exit` needs a CODE, e.g. `exit 3`"))?;
    Ok(Command::Exit { code, message })
}

fn parse_junit(args: &[String]) -> Result<Command, Error> {
    let pairs = options(args, &["--cases", "--fail", "--out", "--suite"])?;
    let mut cases = None;
    let mut fail = 0;
    let mut out = None;
    let mut suite = "generated".to_owned();
    let count = |flag: &str, value: &str| {
        value
            .parse::<usize>()
            .map_err(|_| usage(&format!("`{flag}` needs a count, not `{value}`")))
    };
    for (flag, value) in pairs {
        match flag.as_deref() {
            Some("--cases") => cases = Some(count("--cases", &value)?),
            Some("--fail") => fail = count("--fail", &value)?,
            Some("--out") => out = Some(PathBuf::from(value)),
            Some("--suite") => suite = value,
            _ => return Err(usage(&format!("`junit` takes no argument `{value}`"))),
        }
    }
    let cases = cases.ok_or_else(|| usage("`junit` needs --cases N"))?;
    let out = out.ok_or_else(|| usage("`junit` needs --out PATH"))?;
    if fail > cases {
        return Err(usage(&format!(
            "`--fail {fail}` is more than `--cases {cases}`"
        )));
    }
    Ok(Command::Junit(JunitArgs {
        cases,
        fail,
        out,
        suite,
    }))
}

/// Parses `500ms`, `30`, `30s`, `1.5m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let invalid = || Error::InvalidDuration(text.to_owned());
    let split = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(number * scale).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::{CollectArgs, Command, JunitArgs, parse, parse_duration};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_hours(2));
        for bad in ["", "s", "10d", "-1s", "1e3"] {
            let message = parse_duration(bad).unwrap_err().to_string();
            assert!(message.contains("is not a duration"), "{bad}: {message}");
        }
    }

    #[test]
    fn parses_serve() {
        let Command::Serve(config) = parse(&args(
            "serve --listen=127.0.0.1:9 --name api --version 2.0 --requires http://db:8080/healthz --requires-timeout 1s",
        ))
        .unwrap() else {
            panic!("not serve");
        };
        assert_eq!(config.listen, "127.0.0.1:9");
        assert_eq!(
            (config.name.as_str(), config.version.as_str()),
            ("api", "2.0")
        );
        assert_eq!(config.requires[0].to_string(), "http://db:8080/healthz");
        assert_eq!(config.requires_timeout, Duration::from_secs(1));
    }

    #[test]
    fn parses_http() {
        let Command::Http(http) = parse(&args(
            "http --check http://a/=200 --check=http://b/~ok --timeout 5s --interval 100ms --junit out/junit.xml --suite smoke",
        ))
        .unwrap() else {
            panic!("not http");
        };
        assert_eq!(http.checks.len(), 2);
        assert_eq!(http.retry.timeout, Duration::from_secs(5));
        assert_eq!(http.retry.interval, Duration::from_millis(100));
        assert_eq!(http.retry.request_timeout, Duration::from_secs(5));
        assert_eq!(http.junit, Some(PathBuf::from("out/junit.xml")));
        assert_eq!(http.suite, "smoke");
    }

    #[test]
    fn parses_the_fault_helpers() {
        assert_eq!(
            parse(&args("sleep 2m")).unwrap(),
            Command::Sleep(Duration::from_mins(2))
        );
        assert_eq!(
            parse(&args("exit 3 --message boom")).unwrap(),
            Command::Exit {
                code: 3,
                message: Some("boom".to_owned())
            }
        );
        assert_eq!(
            parse(&args("junit --cases 4 --fail 1 --out j.xml")).unwrap(),
            Command::Junit(JunitArgs {
                cases: 4,
                fail: 1,
                out: PathBuf::from("j.xml"),
                suite: "generated".to_owned()
            })
        );
        assert_eq!(
            parse(&args("collect /chorale/results")).unwrap(),
            Command::Collect(CollectArgs {
                dir: PathBuf::from("/chorale/results"),
                after_others: None
            })
        );
        assert_eq!(
            parse(&args("collect --after-others /r")).unwrap(),
            Command::Collect(CollectArgs {
                dir: PathBuf::from("/r"),
                after_others: Some(Duration::from_hours(1))
            })
        );
        assert_eq!(
            parse(&args("collect /r --at-most=95000ms --after-others")).unwrap(),
            Command::Collect(CollectArgs {
                dir: PathBuf::from("/r"),
                after_others: Some(Duration::from_secs(95))
            })
        );
        assert_eq!(parse(&args("--help")).unwrap(), Command::Help);
        assert_eq!(parse(&args("http --help")).unwrap(), Command::Help);
        assert_eq!(parse(&args("--version")).unwrap(), Command::Version);
    }

    #[test]
    fn explains_bad_command_lines() {
        let cases = [
            ("", "a subcommand is required"),
            ("deploy", "unknown subcommand `deploy`"),
            (
                "serve --port 80",
                "unknown option `--port`; expected one of --listen,",
            ),
            ("serve --listen", "`--listen` needs a value"),
            ("serve extra", "`serve` takes no argument `extra`"),
            ("serve --requires https://db/", "https is not supported"),
            ("http", "needs at least one --check"),
            ("http --check ftp://x/", "the check `ftp://x/` is invalid"),
            ("sleep", "`sleep` takes one DURATION"),
            ("sleep forever", "`forever` is not a duration"),
            ("exit", "`exit` needs a CODE"),
            ("exit 256", "from 0 to 255, not `256`"),
            (
                "junit --cases 1 --fail 2 --out x",
                "`--fail 2` is more than `--cases 1`",
            ),
            (
                "junit --cases x --out y",
                "`--cases` needs a count, not `x`",
            ),
            ("junit --cases 1", "`junit` needs --out PATH"),
            ("collect", "`collect` takes one DIR"),
            ("collect a b", "`collect` takes one DIR"),
            (
                "collect a --at-most 5s",
                "`--at-most` goes with `--after-others`",
            ),
            (
                "collect a --after-others --at-most x",
                "`x` is not a duration",
            ),
        ];
        for (line, expected) in cases {
            let message = parse(&args(line)).unwrap_err().to_string();
            assert!(message.contains(expected), "{line}: {message}");
        }
    }
}
