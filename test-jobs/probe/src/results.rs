//! The results protocol on the wire: `collect` prints every JUnit file of a results volume
//! into its log between marker lines, and [`parse_log`] reads them back out of that log.
//!
//! A test Job's containers write JUnit XML files under `/chorale/results`, a volume of the pod.
//! The pod's last container, the collector, runs `chorale-probe collect /chorale/results
//! --after-others`: once the other containers have ended it prints the files; the pipeline
//! reads the collector container's log (no `exec`, no storage needed) and parses it with
//! [`parse_log`]. The log looks like this:
//!
//! ```text
//! === chorale-results begin 231 http-probe.xml ===
//! <?xml version="1.0" encoding="UTF-8"?>
//! …the file's 231 bytes…
//! === chorale-results end http-probe.xml ===
//! === chorale-results unreadable private/x.xml: Permission denied (os error 13) ===
//! === chorale-results done files=1 unreadable=1 ===
//! ```
//!
//! The byte count makes the format exact whatever a file contains, and the `done` line with
//! its counts tells a complete log from a truncated one. Lines outside the blocks are ignored
//! (a log may carry other output).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::errors::Error;

/// Every marker line starts with this.
const MARKER: &str = "=== chorale-results ";
/// Every marker line ends with this.
const MARKER_END: &str = " ===";

/// One file found under the results directory: its path relative to that directory (with
/// `/` separators) and its text, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    /// The path relative to the results directory, e.g. `http-probe.xml` or `e2e/junit.xml`.
    pub name: String,
    /// The file's text, or why it could not be read (the collector's words).
    pub content: Result<String, String>,
}

/// What `collect` found: how many files it printed and how many it could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Files printed between `begin` and `end` markers.
    pub files: usize,
    /// Files reported as `unreadable`.
    pub unreadable: usize,
}

/// Finds every `*.xml` file under `dir` (recursively, in path order, symbolic links not
/// followed) and prints it to `out` in the marker format, ending with the `done` line.
///
/// A missing `dir` counts as an empty one. A file that cannot be read, or is not UTF-8, or
/// whose name holds a line break, is reported as `unreadable` and the others are still
/// printed; so is `problem`, a reason the collection as a whole cannot be trusted (as the
/// unreadable entry `.`). Only a failure to write to `out` is an error.
pub fn collect(
    dir: &Path,
    out: &mut impl Write,
    problem: Option<&str>,
) -> Result<Collected, Error> {
    let mut found = Vec::new();
    if let Some(problem) = problem {
        found.push((".".to_owned(), Err(problem.to_owned())));
    }
    walk(dir, "", &mut found);
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut collected = Collected {
        files: 0,
        unreadable: 0,
    };
    let stdout = |source: io::Error| Error::io("writing the collected results", source);
    for (name, content) in found {
        match content {
            Ok(text) => {
                write!(
                    out,
                    "{MARKER}begin {} {name}{MARKER_END}\n{text}\n",
                    text.len()
                )
                .map_err(stdout)?;
                writeln!(out, "{MARKER}end {name}{MARKER_END}").map_err(stdout)?;
                collected.files += 1;
            }
            Err(reason) => {
                let name = name.replace(['\n', '\r'], "?");
                writeln!(out, "{MARKER}unreadable {name}: {reason}{MARKER_END}").map_err(stdout)?;
                collected.unreadable += 1;
            }
        }
    }
    writeln!(
        out,
        "{MARKER}done files={} unreadable={}{MARKER_END}",
        collected.files, collected.unreadable
    )
    .map_err(stdout)?;
    out.flush().map_err(stdout)?;
    Ok(collected)
}

/// Collects `(relative name, text or reason)` of every `*.xml` file under `dir`.
fn walk(dir: &Path, prefix: &str, found: &mut Vec<(String, Result<String, String>)>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound && prefix.is_empty() => return,
        Err(error) => {
            found.push((
                prefix.trim_end_matches('/').to_owned(),
                Err(error.to_string()),
            ));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                found.push((
                    prefix.trim_end_matches('/').to_owned(),
                    Err(error.to_string()),
                ));
                continue;
            }
        };
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&entry.path(), &format!("{name}/"), found);
        } else if kind.is_file()
            && Path::new(&name)
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("xml"))
        {
            found.push((name.clone(), read(&entry.path(), &name)));
        }
    }
}

fn read(path: &Path, name: &str) -> Result<String, String> {
    if name.contains(['\n', '\r']) {
        return Err("its name holds a line break".to_owned());
    }
    let bytes = fs::read(path).map_err(|error| error.to_string())?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// Reads the files out of a collector's log: every `begin`/`end` block and `unreadable`
/// line, in order, checked against the `done` line's counts.
///
/// Fails, naming the log line, when a block is cut short or malformed or when the `done`
/// line is missing (the log was truncated or the collector did not finish).
pub fn parse_log(log: &str) -> Result<Vec<ResultFile>, Error> {
    let mut files = Vec::new();
    let mut position = 0;
    while position < log.len() {
        let line_end = log[position..]
            .find('\n')
            .map_or(log.len(), |index| position + index);
        let line = &log[position..line_end];
        let number = line_number(log, position);
        let next = (line_end + 1).min(log.len());
        let Some(body) = line
            .strip_prefix(MARKER)
            .and_then(|rest| rest.strip_suffix(MARKER_END))
        else {
            position = next;
            continue;
        };
        let bad = |reason: String| Error::CollectorLog {
            line: number,
            reason,
        };
        if let Some(rest) = body.strip_prefix("begin ") {
            let (length, name) = rest
                .split_once(' ')
                .and_then(|(length, name)| Some((length.parse::<usize>().ok()?, name)))
                .ok_or_else(|| bad(format!("`{line}` is not `begin BYTES NAME`")))?;
            let start = next;
            let text = log
                .get(start..start + length)
                .ok_or_else(|| bad(format!("the log ends inside the {length} bytes of {name}")))?;
            let end_line = format!("\n{MARKER}end {name}{MARKER_END}");
            let after = &log[start + length..];
            if !after.starts_with(&end_line) {
                return Err(bad(format!(
                    "the {length} bytes of {name} are not followed by its end marker"
                )));
            }
            files.push(ResultFile {
                name: name.to_owned(),
                content: Ok(text.to_owned()),
            });
            position = (start + length + end_line.len() + 1).min(log.len());
        } else if let Some(rest) = body.strip_prefix("unreadable ") {
            let (name, reason) = rest
                .split_once(": ")
                .ok_or_else(|| bad(format!("`{line}` is not `unreadable NAME: REASON`")))?;
            files.push(ResultFile {
                name: name.to_owned(),
                content: Err(reason.to_owned()),
            });
            position = next;
        } else if let Some(rest) = body.strip_prefix("done ") {
            let counts = parse_counts(rest)
                .ok_or_else(|| bad(format!("`{line}` is not `done files=N unreadable=M`")))?;
            let found = count(&files);
            if counts != found {
                return Err(bad(format!(
                    "the collector reported {} file(s) and {} unreadable, the log holds {} and {}",
                    counts.files, counts.unreadable, found.files, found.unreadable
                )));
            }
            return Ok(files);
        } else {
            return Err(bad(format!("unknown marker `{line}`")));
        }
    }
    Err(Error::CollectorLog {
        line: line_number(log, log.len()),
        reason: "the log ends before the collector's `done` line (truncated, or the collector did not finish)".to_owned(),
    })
}

fn count(files: &[ResultFile]) -> Collected {
    let unreadable = files.iter().filter(|file| file.content.is_err()).count();
    Collected {
        files: files.len() - unreadable,
        unreadable,
    }
}

fn parse_counts(text: &str) -> Option<Collected> {
    let (files, unreadable) = text.split_once(' ')?;
    Some(Collected {
        files: files.strip_prefix("files=")?.parse().ok()?,
        unreadable: unreadable.strip_prefix("unreadable=")?.parse().ok()?,
    })
}

/// The 1-based line of a byte offset.
fn line_number(log: &str, offset: usize) -> usize {
    log[..offset].bytes().filter(|&byte| byte == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::{Collected, ResultFile, collect, parse_log};

    fn collect_text(dir: &std::path::Path) -> (String, Collected) {
        let mut out = Vec::new();
        let collected = collect(dir, &mut out, None).unwrap();
        (String::from_utf8(out).unwrap(), collected)
    }

    #[test]
    fn a_problem_with_the_whole_collection_is_an_unreadable_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.xml"), "<testsuites/>").unwrap();
        let mut out = Vec::new();
        let collected = collect(dir.path(), &mut out, Some("no shared namespace")).unwrap();
        assert_eq!(
            collected,
            Collected {
                files: 1,
                unreadable: 1
            }
        );
        let files = parse_log(&String::from_utf8(out).unwrap()).unwrap();
        assert_eq!(
            files[0],
            ResultFile {
                name: ".".to_owned(),
                content: Err("no shared namespace".to_owned())
            }
        );
        assert_eq!(files[1].name, "a.xml");
    }

    #[test]
    fn prints_every_xml_file_in_path_order_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("http-probe.xml", "<testsuites/>\n"),
            // No final newline, marker-like text and a multi-byte character inside.
            (
                "e2e/junit.XML",
                "<a>\n=== chorale-results end e2e/junit.XML ===\n</a> é",
            ),
            ("e2e/deeper/x.xml", ""),
            ("notes.txt", "not collected"),
        ];
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (log, collected) = collect_text(dir.path());
        assert_eq!(
            collected,
            Collected {
                files: 3,
                unreadable: 0
            }
        );
        insta::assert_snapshot!(log);
        let noisy = format!("starting\n{log}trailing noise\n");
        assert_eq!(
            parse_log(&noisy).unwrap(),
            vec![
                ResultFile {
                    name: "e2e/deeper/x.xml".to_owned(),
                    content: Ok(String::new())
                },
                ResultFile {
                    name: "e2e/junit.XML".to_owned(),
                    content: Ok(files[1].1.to_owned())
                },
                ResultFile {
                    name: "http-probe.xml".to_owned(),
                    content: Ok(files[0].1.to_owned())
                },
            ]
        );
    }

    #[test]
    fn an_empty_or_missing_directory_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for path in [dir.path().to_owned(), dir.path().join("missing")] {
            let (log, collected) = collect_text(&path);
            assert_eq!(log, "=== chorale-results done files=0 unreadable=0 ===\n");
            assert_eq!(collected.files + collected.unreadable, 0);
            assert_eq!(parse_log(&log).unwrap(), Vec::new());
        }
    }

    #[test]
    fn reports_files_that_are_not_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("binary.xml"), [0xff, 0xfe, 0]).unwrap();
        std::fs::write(dir.path().join("ok.xml"), "<ok/>").unwrap();
        let (log, collected) = collect_text(dir.path());
        assert_eq!(
            collected,
            Collected {
                files: 1,
                unreadable: 1
            }
        );
        assert_eq!(
            parse_log(&log).unwrap(),
            vec![
                ResultFile {
                    name: "binary.xml".to_owned(),
                    content: Err("it is not UTF-8 text".to_owned())
                },
                ResultFile {
                    name: "ok.xml".to_owned(),
                    content: Ok("<ok/>".to_owned())
                },
            ]
        );
    }

    #[test]
    fn explains_a_damaged_log() {
        let good = "=== chorale-results begin 5 a.xml ===\n<a/>\n\n=== chorale-results end a.xml ===\n=== chorale-results done files=1 unreadable=0 ===\n";
        assert_eq!(parse_log(good).unwrap().len(), 1);
        let cases = [
            (
                &good[..41],
                "line 1: the log ends inside the 5 bytes of a.xml",
            ),
            (
                &good[..60],
                "line 1: the 5 bytes of a.xml are not followed by its end marker",
            ),
            (
                &good[..good.len() - 50],
                "line 5: the log ends before the collector's `done` line",
            ),
            (
                "=== chorale-results begin 4 a.xml ===\n<a/>\n\n=== chorale-results end a.xml ===\n",
                "line 1: the 4 bytes of a.xml are not followed by its end marker",
            ),
            (
                "=== chorale-results begin five a.xml ===\n",
                "line 1: `=== chorale-results begin five a.xml ===` is not `begin BYTES NAME`",
            ),
            (
                "x\n=== chorale-results done files=2 unreadable=0 ===\n",
                "line 2: the collector reported 2 file(s) and 0 unreadable, the log holds 0 and 0",
            ),
            ("=== chorale-results later ===\n", "line 1: unknown marker"),
        ];
        for (log, expected) in cases {
            let message = parse_log(log).unwrap_err().to_string();
            assert!(message.contains(expected), "{log:?}: {message}");
        }
    }
}
