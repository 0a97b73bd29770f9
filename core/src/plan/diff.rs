//! Field-level differences between two normalised JSON values.
//!
//! Reconcilers normalise both the desired spec and what they read from AWS into the same
//! shape (sorted sets, AWS defaults filled, canonical units), so a plain structural
//! comparison is the diff: nothing shows as changed when nothing changed.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One changed field, by dotted path (`attributes.visibility_timeout_seconds`,
/// `environment.DATABASE_HOST`, `ports[0].port`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDiff {
    pub path: String,
    /// `None`: the field did not exist before.
    pub before: Option<Value>,
    /// `None`: the field is removed.
    pub after: Option<Value>,
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        // Empty containers and nulls count as "absent", so `[]`, `{}` and a missing key
        // compare equal, as AWS often returns one for the other.
        Value::Object(_) | Value::Array(_) | Value::Null => {}
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// The leaves that differ between `before` and `after`, sorted by path.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldDiff> {
    // Most components of a plan are unchanged: equal values need no paths built.
    if before == after {
        return Vec::new();
    }
    let mut old = BTreeMap::new();
    let mut new = BTreeMap::new();
    flatten("", before, &mut old);
    flatten("", after, &mut new);
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (b, a) = (old.get(path), new.get(path));
            (b != a).then(|| FieldDiff {
                path: path.clone(),
                before: b.cloned(),
                after: a.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_have_no_diff() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}, "d": null, "e": []});
        assert!(diff(&v, &v.clone()).is_empty());
        assert!(
            diff(&json!({"a": 1, "e": []}), &json!({"a": 1})).is_empty(),
            "empty and absent are equal"
        );
    }

    #[test]
    fn reports_changed_added_and_removed_leaves() {
        let before = json!({"image": "api:v1", "env": {"A": "1", "B": "2"}, "ports": [8080]});
        let after = json!({"image": "api:v2", "env": {"A": "1", "C": "3"}, "ports": [8080, 9090]});
        let d = diff(&before, &after);
        let paths: Vec<&str> = d.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["env.B", "env.C", "image", "ports[1]"]);
        assert_eq!(d[0].after, None);
        assert_eq!(d[1].before, None);
        assert_eq!(d[2].before, Some(json!("api:v1")));
    }
}
