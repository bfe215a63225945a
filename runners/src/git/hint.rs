//! What to tell a person who asked for a ref the remote does not have: its branches first (a
//! repository has few), then the tags closest to the name asked (by edit distance; a
//! repository may have thousands, alphabetically all alike), then how many more there are.

use std::fmt;

/// The most branches a hint names; past it they are counted.
const BRANCHES_NAMED: usize = 10;
/// The most tags a hint names, the closest to the name asked.
const TAGS_NAMED: usize = 5;

/// The branches and tags of a remote worth naming next to a ref it does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefHint {
    /// Branches, the closest to the name asked first (at most 10).
    pub branches: Vec<String>,
    /// Branches not named.
    pub more_branches: usize,
    /// Tags closest to the name asked, the closest first (at most 5).
    pub tags: Vec<String>,
    /// Tags not named.
    pub more_tags: usize,
}

impl RefHint {
    /// The hint for `asked` among `branches` and `tags` (short names: `main`, `v1.2.0`).
    pub fn new(
        asked: &str,
        branches: impl IntoIterator<Item = String>,
        tags: impl IntoIterator<Item = String>,
    ) -> Self {
        let (branches, more_branches) = closest(asked, branches, BRANCHES_NAMED);
        let (tags, more_tags) = closest(asked, tags, TAGS_NAMED);
        Self {
            branches,
            more_branches,
            tags,
            more_tags,
        }
    }

    /// The hint for `asked` from full ref names (`refs/heads/…`, `refs/tags/…`; peeled tags
    /// `…^{}` and other refs are left out), as a remote advertises them.
    pub fn from_refs<'a>(asked: &str, refs: impl IntoIterator<Item = &'a str>) -> Self {
        let asked = short_name(asked);
        let (mut branches, mut tags) = (Vec::new(), Vec::new());
        for name in refs {
            if name.ends_with("^{}") {
                continue;
            }
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                branches.push(branch.to_owned());
            } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                tags.push(tag.to_owned());
            }
        }
        Self::new(asked, branches, tags)
    }
}

/// `asked` without a `refs/heads/` or `refs/tags/` prefix, to compare with short names.
fn short_name(asked: &str) -> &str {
    asked
        .strip_prefix("refs/heads/")
        .or_else(|| asked.strip_prefix("refs/tags/"))
        .unwrap_or(asked)
}

/// The `keep` names closest to `asked` (then alphabetically), and how many others there are.
fn closest(
    asked: &str,
    names: impl IntoIterator<Item = String>,
    keep: usize,
) -> (Vec<String>, usize) {
    let mut ranked: Vec<(usize, String)> = names
        .into_iter()
        .map(|name| (strsim::levenshtein(asked, &name), name))
        .collect();
    ranked.sort_unstable();
    ranked.dedup();
    let more = ranked.len().saturating_sub(keep);
    ranked.truncate(keep);
    (ranked.into_iter().map(|(_, name)| name).collect(), more)
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `; branches: main, dev; closest tags: v1.0.0, v1.0.1; and 2,998 more tags`, or
/// ` (the remote has no branches or tags)`.
impl fmt::Display for RefHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.branches.is_empty() && self.tags.is_empty() {
            return f.write_str(" (the remote has no branches or tags)");
        }
        if !self.branches.is_empty() {
            write!(f, "; branches: {}", self.branches.join(", "))?;
            if self.more_branches > 0 {
                write!(
                    f,
                    " and {}",
                    plural(self.more_branches, "more branch", "more branches")
                )?;
            }
        }
        if !self.tags.is_empty() {
            let closest = if self.more_tags > 0 { "closest " } else { "" };
            write!(f, "; {closest}tags: {}", self.tags.join(", "))?;
            if self.more_tags > 0 {
                write!(
                    f,
                    "; and {}",
                    plural(self.more_tags, "more tag", "more tags")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{RefHint, thousands};

    #[test]
    fn branches_come_first_then_the_closest_tags_then_a_count() {
        let tags = (0..3000).map(|i| format!("v1.{}.{}", i / 100, i % 100));
        let hint = RefHint::new(
            "mian",
            ["release-1.0", "main", "dev"].map(str::to_owned),
            tags,
        );
        assert_eq!(hint.branches, ["main", "dev", "release-1.0"]);
        assert_eq!(hint.more_branches, 0);
        assert_eq!(hint.tags.len(), 5);
        assert_eq!(hint.more_tags, 2995);
        assert_eq!(
            hint.to_string(),
            format!(
                "; branches: main, dev, release-1.0; closest tags: {}; and 2,995 more tags",
                hint.tags.join(", ")
            )
        );
    }

    #[test]
    fn a_misspelled_tag_names_its_neighbours() {
        let tags = (0..3000).map(|i| format!("v1.{}.{}", i / 100, i % 100));
        let hint = RefHint::new("v1.22.7x", Vec::new(), tags);
        assert_eq!(hint.tags[0], "v1.22.7");
        assert!(hint.branches.is_empty());
    }

    #[test]
    fn many_branches_are_counted_and_full_names_are_read() {
        let refs: Vec<String> = (0..25)
            .map(|i| format!("refs/heads/feature-{i:02}"))
            .chain(["refs/tags/v1".to_owned(), "refs/tags/v1^{}".to_owned()])
            .chain(["refs/pull/1/head".to_owned()])
            .collect();
        let hint = RefHint::from_refs("refs/heads/feature-7", refs.iter().map(String::as_str));
        assert_eq!(hint.branches[0], "feature-07");
        assert_eq!(hint.more_branches, 15);
        assert_eq!(hint.tags, ["v1"]);
        assert_eq!(hint.more_tags, 0);
        assert!(hint.to_string().contains(" and 15 more branches; tags: v1"));
        assert_eq!(
            RefHint::default().to_string(),
            " (the remote has no branches or tags)"
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2980), "2,980");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
