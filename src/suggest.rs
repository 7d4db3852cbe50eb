//! "Did you mean" suggestions for misspelt keys, values and names.

/// The candidate closest to `word`, when it is close enough to be a typo.
///
/// Close enough means an edit distance of at most a third of the word's
/// length (at least one), the rule cargo uses for subcommands.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let lower = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().filter(|c| *c != word).collect();
    // `production` → `prod`: one is a prefix of the other.
    if let Some(c) = candidates.iter().find(|c| {
        let c = c.to_lowercase();
        c.len() >= 3 && lower.len() >= 3 && (lower.starts_with(&c) || c.starts_with(&lower))
    }) {
        return Some(c);
    }
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" when one candidate is close to `word`.
pub fn help(word: &str, candidates: &[&str]) -> Option<String> {
    did_you_mean(word, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

/// [`help`], else `{lead} `a`, `b` or `c``: every candidate, for a word not near any.
pub fn help_or(word: &str, candidates: &[&str], lead: &str) -> String {
    help(word, candidates).unwrap_or_else(|| format!("{lead} {}", one_of(candidates)))
}

/// "`a`, `b` or `c`"
pub fn one_of(words: &[&str]) -> String {
    match words {
        [] => "nothing".to_owned(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "{} or `{last}`",
            init.iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["timeout", "memory", "runtime", "handler"];
        assert_eq!(did_you_mean("timout", keys), Some("timeout"));
        assert_eq!(did_you_mean("Memory", keys), Some("memory"));
        assert_eq!(did_you_mean("handelr", keys), Some("handler"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
