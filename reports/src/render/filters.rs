//! Template filters for numbers, times and text that people read.

use minijinja::{Environment, Error, ErrorKind, Value};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("duration", duration);
    env.add_filter("short_digest", short_digest);
    env.add_filter("when", when);
    env.add_filter("code", code);
    env.add_filter("mdtext", mdtext);
    env.add_filter("fence", fence);
}

/// Milliseconds as people read them: `850 ms`, `12.3 s`, `4m 05s`, `1h 02m`.
pub(crate) fn format_duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000),
        _ => format!("{}h {:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// The filter's input: `None` for `none`, an error for undefined (strict mode holds for
/// filter arguments too, so a misspelled field in a template is reported).
fn defined(filter: &str, value: &Value) -> Result<Option<Value>, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("the value given to `{filter}` is undefined"),
        ));
    }
    Ok((!value.is_none()).then(|| value.clone()))
}

fn text_of(filter: &str, value: &Value) -> Result<Option<String>, Error> {
    Ok(defined(filter, value)?.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
}

fn duration(value: &Value) -> Result<String, Error> {
    let Some(value) = defined("duration", value)? else {
        return Ok("–".to_owned());
    };
    let ms = u64::try_from(value).map_err(|err| {
        Error::new(ErrorKind::InvalidOperation, "`duration` takes milliseconds").with_source(err)
    })?;
    Ok(format_duration(ms))
}

/// `sha256:0123456789abcdef…` shortened to the algorithm and 12 hex digits.
pub(crate) fn format_short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) if hex.len() > 12 => format!("{algorithm}:{}", &hex[..12]),
        _ => digest.to_owned(),
    }
}

fn short_digest(value: &Value) -> Result<String, Error> {
    Ok(text_of("short_digest", value)?.map_or_else(|| "–".to_owned(), |d| format_short_digest(&d)))
}

/// An RFC 3339 timestamp as `2025-03-01 02:14:05 UTC`.
fn when(value: &Value) -> Result<String, Error> {
    let Some(timestamp) = text_of("when", value)? else {
        return Ok("–".to_owned());
    };
    let parsed: jiff::Timestamp = timestamp.parse().map_err(|err| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{timestamp:?} is not a timestamp: {err}"),
        )
    })?;
    Ok(parsed.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A Markdown code span that survives backticks and table pipes in the value.
fn code(value: &Value) -> Result<String, Error> {
    Ok(code_span(&text_of("code", value)?.unwrap_or_default()))
}

fn code_span(value: &str) -> String {
    let longest_run = value.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let value = value.replace('|', "\\|").replace('\n', " ");
    let pad = if value.starts_with('`') || value.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{value}{pad}{fence}")
}

/// A fenced Markdown code block whose fence is longer than any backtick run in the text.
fn fence(value: &Value) -> Result<String, Error> {
    Ok(fenced(&text_of("fence", value)?.unwrap_or_default()))
}

fn fenced(value: &str) -> String {
    let longest_run = value.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    format!("{fence}text\n{}\n{fence}", value.trim_end())
}

/// Free text for a Markdown table cell or list item: one line, pipes and markup escaped.
fn mdtext(value: &Value) -> Result<String, Error> {
    Ok(text_of("mdtext", value)?
        .map(|v| markdown_text(&v))
        .unwrap_or_default())
}

fn markdown_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' | '*' | '_' | '`' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(12_345), "12.3 s");
        assert_eq!(format_duration(245_000), "4m 05s");
        assert_eq!(format_duration(3_720_000), "1h 02m");
    }

    #[test]
    fn digests_are_shortened() {
        assert_eq!(
            format_short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab"
        );
        assert_eq!(format_short_digest("latest"), "latest");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code_span("a|b"), "`a\\|b`");
        assert_eq!(code_span("x `y` z"), "``x `y` z``");
        assert_eq!(code_span("`edge"), "`` `edge ``");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fenced("a\n"), "```text\na\n```");
        assert_eq!(fenced("x ```` y"), "`````text\nx ```` y\n`````");
    }

    #[test]
    fn markdown_text_is_escaped() {
        assert_eq!(markdown_text("a|b *c*\n<d>"), "a\\|b \\*c\\* &lt;d&gt;");
    }
}
