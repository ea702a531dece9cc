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
    tokens: Vec<Token>,
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Text matched as is.
    Literal(String),
    /// `*`: any characters but `/`.
    Star,
    /// `**`: any characters.
    DoubleStar,
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
        let mut tokens = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("**") {
                tokens.push(Token::DoubleStar);
                rest = after;
            } else if let Some(after) = rest.strip_prefix('*') {
                tokens.push(Token::Star);
                rest = after;
            } else {
                let end = rest.find('*').unwrap_or(rest.len());
                tokens.push(Token::Literal(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// Whether the repository name `name` (`registry/repository`) matches.
    pub fn matches(&self, name: &str) -> bool {
        // `at[i]`: some prefix of the tokens seen so far matches exactly `name[..i]`. One pass
        // per token, linear in the name: no backtracking, however many stars.
        let name = name.as_bytes();
        let mut at = vec![false; name.len() + 1];
        at[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; name.len() + 1];
            match token {
                Token::Literal(text) => {
                    let text = text.as_bytes();
                    for i in (0..at.len()).filter(|&i| at[i]) {
                        if name[i..].starts_with(text) {
                            next[i + text.len()] = true;
                        }
                    }
                }
                Token::Star | Token::DoubleStar => {
                    let crosses_slashes = *token == Token::DoubleStar;
                    let mut open = false;
                    for i in 0..at.len() {
                        if i > 0 && name[i - 1] == b'/' && !crosses_slashes {
                            open = false;
                        }
                        open |= at[i];
                        next[i] = open;
                    }
                }
            }
            at = next;
        }
        at[name.len()]
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
        assert!(!p.matches("127.0.0.1:5000/ap"));
    }

    #[test]
    fn stars_match_as_the_module_docs_say() {
        for (pattern, name, matches) in [
            ("registry/*", "registry/app", true),
            ("registry/*", "registry/", true),
            ("registry/*", "registry/a/b", false),
            ("registry/**", "registry/a/b", true),
            ("registry/**", "other/a", false),
            ("registry/app-*", "registry/app-1", true),
            ("registry/app-*", "registry/app", false),
            ("*/*/alpine", "docker.io/library/alpine", true),
            ("*/*/alpine", "docker.io/alpine", false),
            ("**/alpine", "docker.io/library/alpine", true),
            ("**/alpine", "alpine", false),
            ("r/**/x/*", "r/a/b/x/y", true),
            ("r/**/x/*", "r/a/b/x/y/z", false),
            ("r/*a*b*", "r/xaybz", true),
            ("r/*a*b*", "r/xbya", false),
            (
                "a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ] {
            let p = ImagePattern::parse(pattern).unwrap();
            assert_eq!(p.matches(name), matches, "{pattern} against {name}");
        }
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
