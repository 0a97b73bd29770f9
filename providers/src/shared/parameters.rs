//! Parameter groups (RDS's DB parameter groups, ElastiCache's cache parameter groups):
//! panka makes a group's user parameters exactly the spec's `parameters`, setting what is
//! new or changed and resetting what is no longer wanted to the engine's default.

use std::collections::BTreeMap;

/// The Modify…ParameterGroup and Reset…ParameterGroup calls of both services take at most
/// 20 parameters each.
pub(crate) const PARAMETERS_PER_CALL: usize = 20;

/// What takes a group's user parameters from `current` to `wanted`, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ParameterDelta<'a> {
    /// New or changed parameters and their wanted values.
    pub set: Vec<(&'a str, &'a str)>,
    /// Parameters set now and no longer wanted: back to the engine's default.
    pub reset: Vec<&'a str>,
}

impl<'a> ParameterDelta<'a> {
    pub fn between(
        current: &'a BTreeMap<String, String>,
        wanted: &'a BTreeMap<String, String>,
    ) -> Self {
        ParameterDelta {
            set: wanted
                .iter()
                .filter(|(k, v)| current.get(*k) != Some(*v))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            reset: current
                .keys()
                .filter(|k| !wanted.contains_key(*k))
                .map(String::as_str)
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.reset.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_what_differs_is_set_or_reset() {
        let current = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let wanted = map(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let delta = ParameterDelta::between(&current, &wanted);
        assert_eq!(delta.set, [("b", "20"), ("d", "4")]);
        assert_eq!(delta.reset, ["c"]);
        assert!(!delta.is_empty());
        assert!(ParameterDelta::between(&wanted, &wanted).is_empty());
        assert_eq!(
            ParameterDelta::between(&BTreeMap::new(), &BTreeMap::new()),
            ParameterDelta::default()
        );
    }
}
