//! Namespace globs: `*` matches any run of characters (including none), `?`
//! exactly one; everything else matches itself. Written by hand because two
//! wildcards over short names do not justify a dependency; no classes, no
//! escapes, case-sensitive (namespace names are lowercase).

/// Whether `text` matches `pattern`. Linear-time backtracking over bytes:
/// only the last `*` is ever retried, so a pattern cannot blow up.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether any pattern matches.
pub fn any_match<S: AsRef<str>>(patterns: &[S], text: &str) -> bool {
    patterns.iter().any(|p| glob_match(p.as_ref(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_match_only_themselves() {
        assert!(glob_match("default", "default"));
        assert!(!glob_match("default", "defaults"));
        assert!(!glob_match("default", "defaul"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn star_matches_any_run_and_question_mark_one_character() {
        assert!(glob_match("kube-*", "kube-system"));
        assert!(glob_match("kube-*", "kube-"));
        assert!(!glob_match("kube-*", "kubernetes"));
        assert!(glob_match("*-system", "cert-manager-system"));
        assert!(!glob_match("*-system", "system"));
        assert!(glob_match("*", ""));
        assert!(glob_match("team-?", "team-a"));
        assert!(!glob_match("team-?", "team-ab"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*a*a*a*", "aaa"));
        assert!(!glob_match(
            "*a*a*a*b",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
    }

    #[test]
    fn any_match_checks_every_pattern() {
        let patterns = ["kube-*", "openshift-*"];
        assert!(any_match(&patterns, "openshift-monitoring"));
        assert!(!any_match(&patterns, "shop"));
        assert!(!any_match::<&str>(&[], "shop"));
    }
}
