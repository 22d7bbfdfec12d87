//! Tool-name globs for the allow and deny lists: `*` matches any run of characters, `?` one
//! character, everything else itself (tool names are `[a-z0-9_]`, so no escaping is needed).

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`: linear in practice and
    // never recursive, so a hostile pattern cannot blow the stack.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Why a pattern is not usable, or None.
pub fn check(pattern: &str) -> Option<String> {
    if pattern.is_empty() {
        return Some("an empty pattern matches nothing".into());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '?' | '.' | '-')))
    {
        return Some(format!(
            "`{pattern}` contains `{c}`: tool names use letters, digits and `_`; patterns add `*` and `?`"
        ));
    }
    None
}

/// How many single-character edits `pattern` is from matching `name` (`*` and `?` match as
/// they do in [`matches`], free): the measure for "did you mean".
pub fn distance(pattern: &str, name: &str) -> usize {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // row[j]: edits for the pattern so far against the first j characters of the name.
    let mut row: Vec<usize> = (0..=n.len()).collect();
    for &pc in &p {
        let mut next = vec![0; n.len() + 1];
        next[0] = if pc == '*' { row[0] } else { row[0] + 1 };
        for j in 1..=n.len() {
            next[j] = if pc == '*' {
                row[j].min(next[j - 1])
            } else {
                let substitute = row[j - 1] + usize::from(pc != '?' && pc != n[j - 1]);
                substitute.min(row[j] + 1).min(next[j - 1] + 1)
            };
        }
        row = next;
    }
    row[n.len()]
}

/// The `n` names closest to matching `pattern`, closest first.
pub fn closest<'a>(pattern: &str, names: impl Iterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> =
        names.map(|name| (distance(pattern, name), name)).collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::{distance, matches};

    #[test]
    fn distance_counts_the_edits_to_a_match() {
        assert_eq!(
            distance("pfsense_delete_*", "pfsense_delete_firewall_alias"),
            0
        );
        assert_eq!(
            distance("pfsense_delte_*", "pfsense_delete_firewall_alias"),
            1
        );
        assert_eq!(distance("pfsense_lst_*", "pfsense_list_firewall_rules"), 1);
        assert_eq!(distance("abc", "abd"), 1);
        assert_eq!(distance("a?c", "abc"), 0);
    }

    #[test]
    fn globs() {
        assert!(matches("pfsense_delete_*", "pfsense_delete_firewall_alias"));
        assert!(!matches(
            "pfsense_delete_*",
            "pfsense_create_firewall_alias"
        ));
        assert!(matches("*_alias", "pfsense_update_firewall_alias"));
        assert!(matches("*firewall*", "pfsense_list_firewall_rules"));
        assert!(matches("pfsense_?et_*", "pfsense_get_system_version"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("*", ""));
        assert!(!matches("a*b*c", "aXbY"));
        assert!(matches("a*b*c", "aXbYc"));
    }
}
