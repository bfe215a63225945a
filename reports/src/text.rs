//! Shaping free text for people: one-line summaries, bounded excerpts, terminal codes out.

/// Removes terminal escape sequences (colours, cursor moves) that test tools print.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // Any other escape: ESC and one character.
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// The first non-blank line of `text`, trimmed and cut to `max_chars` characters.
pub fn first_line(text: &str, max_chars: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    truncate_chars(line, max_chars)
}

/// `text` cut to at most `max_chars` characters, ending in `…` when it was cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.char_indices().nth(max_chars).is_none() {
        return text.to_owned();
    }
    let keep = max_chars.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    format!("{}…", &text[..end])
}

/// `text` bounded to about `max_bytes`: its head and its tail with a note of what was left
/// out between them (the start of a trace names the error, the end names the place).
pub fn head_and_tail(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let half = max_bytes / 2;
    let head_end = floor_char_boundary(text, half);
    let tail_start = ceil_char_boundary(text, text.len() - half);
    format!(
        "{}\n… {} bytes omitted …\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(strip_ansi("\u{1b}[31mFAIL\u{1b}[0m ok"), "FAIL ok");
    }

    #[test]
    fn first_line_skips_blank_lines_and_truncates() {
        assert_eq!(first_line("\n\n  boom here\nmore", 100), "boom here");
        assert_eq!(first_line("abcdef", 4), "abc…");
        assert_eq!(first_line("", 4), "");
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("ééé", 3), "ééé");
    }

    #[test]
    fn head_and_tail_keeps_both_ends() {
        let text = format!("{}{}", "a".repeat(100), "b".repeat(100));
        let cut = head_and_tail(&text, 20);
        assert!(cut.starts_with("aaaaaaaaaa\n… 180 bytes omitted …\n"));
        assert!(cut.ends_with("bbbbbbbbbb"));
        assert_eq!(head_and_tail("short", 20), "short");
    }
}
