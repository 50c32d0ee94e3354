//! "Did you mean ...?" suggestions for misspelled names.

/// The candidate nearest to `input`, if it is near enough to be a likely typo.
///
/// Uses the Damerau-Levenshtein edit distance (a transposition counts as one
/// edit), accepting at most a third of the input's length (min 1, max 3).
pub fn nearest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (input.chars().count() / 3).clamp(1, 3);
    let lowered = input.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(&lowered, &c.to_ascii_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn suggests_close_names_only() {
        let actions = ["sign-out-user", "revoke-domain", "restore-domain"];
        assert_eq!(nearest("sigh-out-user", actions), Some("sign-out-user"));
        assert_eq!(nearest("revoke-domian", actions), Some("revoke-domain"));
        assert_eq!(nearest("delete-everything", actions), None);
    }
}
