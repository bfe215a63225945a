//! The version line of a product: `MAJOR.MINOR` of the versions it publishes.

/// `MAJOR.MINOR` of the versions a product publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionLine {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
}

impl std::fmt::Display for VersionLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for VersionLine {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (major, minor) = text.split_once('.').ok_or(())?;
        let number = |s: &str| {
            let canonical = s == "0" || (!s.is_empty() && !s.starts_with('0'));
            if canonical && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u64>().map_err(drop)
            } else {
                Err(())
            }
        };
        Ok(Self {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}
