//! Image name patterns of policy scopes: `registry.example/team/**`, with `*` for one path
//! segment (or part of one) and `**` for any number of characters, slashes included. A pattern
//! matches the repository name only (`registry/repository`, Docker Hub names spelled out as
//! `docker.io/library/alpine`), never a tag or a digest.
//!
//! When several scopes match an image, the most specific one decides (as containers'
//! `policy.json` and Notation's trust policy do): a pattern without wildcards beats any with
//! one; then the longer text before the first wildcard wins; then fewer `**`, then fewer `*`;
//! then the scope written first.
//!
//! ```
//! use vouch_policy::pattern::ImagePattern;
//!
//! let team = ImagePattern::parse("registry.example/team/**").unwrap();
//! let app = ImagePattern::parse("registry.example/team/app-*").unwrap();
//! assert!(team.matches("registry.example/team/app-1/sub"));
//! assert!(app.matches("registry.example/team/app-1"));
//! assert!(!app.matches("registry.example/team/app-1/sub"));
//! assert!(app.specificity() > team.specificity());
//! ```

use std::fmt;

/// A compiled image name pattern.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    text: String,
    regex: regex::Regex,
}

/// How specific a pattern is; greater is more specific. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    exact: bool,
    literal_prefix: usize,
    fewer_double_stars: std::cmp::Reverse<usize>,
    fewer_stars: std::cmp::Reverse<usize>,
}

impl ImagePattern {
    /// Compiles `text`. Refuses an empty pattern, one with a tag or digest, one with a
    /// character that cannot be in an image name, and `***`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an image pattern is empty".into());
        }
        if text.contains('@')
            || text
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(format!(
                "image pattern {text:?} names a tag or digest; patterns match repository names only"
            ));
        }
        if text.contains("***") {
            return Err(format!("image pattern {text:?} has `***`; use `**`"));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:*".contains(*c)))
        {
            return Err(format!(
                "image pattern {text:?} holds {bad:?}, which no image name has"
            ));
        }
        let mut regex = String::from("^");
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("**") {
                regex.push_str(".*");
                rest = after;
            } else if let Some(after) = rest.strip_prefix('*') {
                regex.push_str("[^/]*");
                rest = after;
            } else {
                let end = rest.find('*').unwrap_or(rest.len());
                regex.push_str(&regex::escape(&rest[..end]));
                rest = &rest[end..];
            }
        }
        regex.push('$');
        let regex = regex::Regex::new(&regex).map_err(|e| e.to_string())?;
        Ok(Self {
            text: text.to_owned(),
            regex,
        })
    }

    /// Whether the repository name `name` (`registry/repository`) matches.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How specific the pattern is, for choosing among scopes.
    pub fn specificity(&self) -> Specificity {
        let double = self.text.matches("**").count();
        let single = self.text.matches('*').count() - 2 * double;
        Specificity {
            exact: double + single == 0,
            literal_prefix: self.text.find('*').unwrap_or(self.text.len()),
            fewer_double_stars: std::cmp::Reverse(double),
            fewer_stars: std::cmp::Reverse(single),
        }
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_stars_stay_within_a_segment() {
        let p = ImagePattern::parse("docker.io/*/alpine").unwrap();
        assert!(p.matches("docker.io/library/alpine"));
        assert!(!p.matches("docker.io/a/b/alpine"));
        let p = ImagePattern::parse("**").unwrap();
        assert!(p.matches("anything/at/all"));
        let p = ImagePattern::parse("127.0.0.1:5000/app").unwrap();
        assert!(p.matches("127.0.0.1:5000/app"));
        assert!(!p.matches("127.0.0.1:5000/app2"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (bad, says) in [
            ("", "empty"),
            ("registry/app:v1", "tag or digest"),
            ("registry/app@sha256:abc", "tag or digest"),
            ("registry/***", "***"),
            ("registry/a b", "' '"),
        ] {
            let error = ImagePattern::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        // A port is not a tag.
        ImagePattern::parse("127.0.0.1:5000/**").unwrap();
    }

    #[test]
    fn the_most_specific_pattern_ranks_highest() {
        let ranked = [
            "**",
            "registry/**",
            "registry/team/**",
            "registry/team/*",
            "registry/team/app-*",
            "registry/team/app",
        ];
        for pair in ranked.windows(2) {
            let (less, more) = (
                ImagePattern::parse(pair[0]).unwrap(),
                ImagePattern::parse(pair[1]).unwrap(),
            );
            assert!(more.specificity() > less.specificity(), "{pair:?}");
        }
    }
}
