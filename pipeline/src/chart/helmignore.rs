//! `.helmignore` read as helm 3.10 reads it (its `internal/ignore` package and the directory
//! loader), which is not gitignore:
//!
//! - one rule a line, trimmed; blank lines and lines starting with `#` are skipped;
//! - `**` is refused (helm 3.10: "double-star (**) syntax is not supported");
//! - globs are Go's `filepath.Match`: `*` and `?` never cross `/`, `[a-z]`, `[^a-z]`, `\x`;
//!   a malformed glob is refused;
//! - a rule without `/` is matched against the file or folder name only; a rule with `/` (or
//!   starting with `/`, anchored) against the whole path from the chart's root;
//! - a trailing `/` makes a rule match folders only; a folder that is left out is left out
//!   with everything in it;
//! - rules are tried in order and the first that decides wins. A negated rule `!x` does not
//!   re-include anything: it leaves out everything it does *not* match (helm's rule), and lets
//!   what it matches go on to the next rules;
//! - after the file's rules, helm's default `templates/.?*` leaves out the dotfiles (and
//!   dot-folders) directly under `templates/`; dotfiles anywhere else are packaged.

/// The rules of a chart's `.helmignore` plus helm's default.
#[derive(Debug, Clone)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<Token>,
    negate: bool,
    folders_only: bool,
    /// Matched against the last path component only (the rule has no `/`).
    name_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `[...]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The rule helm adds after a chart's own: dotfiles directly under `templates/`.
const DEFAULT_RULE: &str = "templates/.?*";

impl Rules {
    /// Parse the text of a `.helmignore` (`None`: the chart has none) and add helm's default.
    /// Errors say `.helmignore:LINE: …`.
    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for (number, line) in text.unwrap_or_default().lines().enumerate() {
            let line = if number == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            if let Some(pattern) = Pattern::parse(line)
                .map_err(|message| format!(".helmignore:{}: {message}", number + 1))?
            {
                patterns.push(pattern);
            }
        }
        patterns.push(
            Pattern::parse(DEFAULT_RULE)
                .expect("the default rule parses")
                .expect("the default rule is a rule"),
        );
        Ok(Self { patterns })
    }

    /// Whether `path` (relative to the chart's root, `/`-separated) is left out by the rules
    /// themselves, as helm asks of each file and folder it walks.
    fn ignores(&self, path: &str, folder: bool) -> bool {
        for pattern in &self.patterns {
            if pattern.negate {
                if (pattern.folders_only && !folder) || !pattern.matches(path) {
                    return true;
                }
                continue;
            }
            if pattern.folders_only && !folder {
                continue;
            }
            if pattern.matches(path) {
                return true;
            }
        }
        false
    }

    /// Whether the file at `path` is packaged: neither it nor any folder above it is left
    /// out (helm skips a left-out folder without looking inside).
    pub fn packages(&self, path: &str) -> bool {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            if self.ignores(&path[..end], true) {
                return false;
            }
            end += 1;
        }
        !self.ignores(path, false)
    }
}

impl Pattern {
    /// `None` for a blank line or a comment.
    fn parse(line: &str) -> Result<Option<Self>, String> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(None);
        }
        if rule.contains("**") {
            return Err(format!(
                "`{rule}`: `**` is not supported (helm 3.10 refuses it: \"double-star (**) syntax \
                 is not supported\"); a rule without `/` already matches a name at any depth, \
                 and `*` matches within one folder level (`dir/*/x.yaml`)"
            ));
        }
        // helm checks the whole rule, `!` and slashes included, as one glob.
        compile(rule).map_err(|e| format!("`{rule}`: {e}"))?;
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (folders_only, rule) = match rule.strip_suffix('/') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (name_only, rule) = match rule.strip_prefix('/') {
            Some(rest) => (false, rest),
            None => (!rule.contains('/'), rule),
        };
        Ok(Some(Self {
            glob: compile(rule).map_err(|e| format!("`{line}`: {e}"))?,
            negate,
            folders_only,
            name_only,
        }))
    }

    fn matches(&self, path: &str) -> bool {
        let subject = if self.name_only {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        let subject: Vec<char> = subject.chars().collect();
        glob_matches(&self.glob, &subject)
    }
}

const BAD_PATTERN: &str = "syntax error in pattern (a `[` class left open or empty, a range \
                           without its end, or a `\\` at the end)";

/// A glob in Go's `filepath.Match` syntax, checked whole.
fn compile(glob: &str) -> Result<Vec<Token>, String> {
    let mut chars = glob.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Token::Star,
            '?' => Token::One,
            '\\' => Token::Literal(chars.next().ok_or(BAD_PATTERN)?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let low = class_char(&mut chars)?;
                    let high = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        low
                    };
                    ranges.push((low, high));
                }
                Token::Class { negated, ranges }
            }
            other => Token::Literal(other),
        });
    }
    Ok(tokens)
}

/// One character of a class: not `-` or `]` unescaped, and not the end of the glob.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    let c = match chars.next() {
        None | Some('-' | ']') => return Err(BAD_PATTERN.to_owned()),
        Some('\\') => chars.next().ok_or(BAD_PATTERN)?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err(BAD_PATTERN.to_owned());
    }
    Ok(c)
}

/// Whether `name` matches `glob` whole: `*` and `?` do not match `/`.
fn glob_matches(glob: &[Token], name: &[char]) -> bool {
    match glob.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => {
            let mut taken = 0;
            loop {
                if glob_matches(rest, &name[taken..]) {
                    return true;
                }
                if taken == name.len() || name[taken] == '/' {
                    return false;
                }
                taken += 1;
            }
        }
        Some((token, rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let one = match token {
                Token::Literal(l) => *l == c,
                Token::One => c != '/',
                Token::Class { negated, ranges } => {
                    ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
                }
                Token::Star => unreachable!("handled above"),
            };
            one && glob_matches(rest, name_rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packaged<'a>(rules: &str, paths: &[&'a str]) -> Vec<&'a str> {
        let rules = Rules::parse(Some(rules)).unwrap();
        paths
            .iter()
            .copied()
            .filter(|p| rules.packages(p))
            .collect()
    }

    #[test]
    fn dotfiles_directly_under_templates_are_left_out() {
        let paths = [
            ".helmignore",
            ".env",
            "Chart.yaml",
            "templates/.foo.yaml",
            "templates/.hidden/cm.yaml",
            "templates/a.yaml",
            "templates/sub/.b.yaml",
            "files/.c",
        ];
        assert_eq!(
            packaged("", &paths),
            [
                ".helmignore",
                ".env",
                "Chart.yaml",
                "templates/a.yaml",
                "templates/sub/.b.yaml",
                "files/.c",
            ]
        );
    }

    #[test]
    fn rules_match_names_paths_and_folders_as_helm_does() {
        let paths = [
            "README.md",
            "docs/guide.md",
            "ci/values.yaml",
            "deep/ci/x.yaml",
            "ci.txt/a",
            "root.txt",
            "sub/root.txt",
            "templates/a.yaml",
            "templates/sub/b.yaml",
            "a1.tpl",
            "ab.tpl",
            "x9.log",
            "xa.log",
        ];
        assert_eq!(
            packaged(
                "  # a comment\n*.md\nci/\n/root.txt\ntemplates/*.yaml\na?.tpl\nx[0-9].log\n",
                &paths
            ),
            ["ci.txt/a", "sub/root.txt", "templates/sub/b.yaml", "xa.log"]
        );
        assert_eq!(packaged("x[^0-9].log\n", &paths[11..]), ["x9.log"]);
    }

    #[test]
    fn a_negated_rule_leaves_out_everything_it_does_not_match() {
        let paths = ["Chart.yaml", "values.yaml", "keep.txt", "templates/a.yaml"];
        assert_eq!(packaged("!*.yaml\n", &paths), ["Chart.yaml", "values.yaml"]);
        // The first rule that decides wins: `keep.txt` is left out by `*.txt` already.
        assert_eq!(packaged("*.txt\n!keep.txt\n", &paths), Vec::<&str>::new());
    }

    #[test]
    fn double_star_and_broken_globs_are_refused() {
        let error = Rules::parse(Some("# ok\n**/*.md\n")).unwrap_err();
        assert!(error.starts_with(".helmignore:2: `**/*.md`: `**` is not supported"));
        assert!(error.contains("helm 3.10 refuses it"), "{error}");
        for bad in ["[", "[]", "[a-]", "a\\", "[^]"] {
            let error = Rules::parse(Some(bad)).unwrap_err();
            assert!(error.contains("syntax error in pattern"), "{bad}: {error}");
        }
        assert!(Rules::parse(Some("\u{feff}*.md\n[]a]x\n")).is_err());
        assert!(Rules::parse(Some("\u{feff}*.md\n[\\]a]x\n")).is_ok());
    }
}
