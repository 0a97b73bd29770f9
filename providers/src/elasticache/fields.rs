//! The managed fields: from the spec (`normalise`) and as AWS reports them (`read`), what
//! an update modifies between them, and what AWS would refuse, said before any call.

use super::versions::{engine_family, normalise_engine_version};
use panka_core::model::{RedisMode, RedisSpec};
use panka_core::reconcile::{ErrorKind, ProviderError};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The managed fields of `spec`, normalised as `read` reports them.
pub fn desired_fields(spec: &RedisSpec) -> Value {
    json!({
        "engine_version": normalise_engine_version(&spec.engine_version),
        "mode": spec.mode,
        "node_type": spec.node_type,
        "num_nodes": spec.num_nodes,
        "automatic_failover": spec.automatic_failover,
        "port": spec.port,
        "snapshot_retention_days": spec.snapshot_retention_days,
        "transit_encryption": spec.transit_encryption,
        "at_rest_encryption": spec.at_rest_encryption,
        "parameters": spec.parameters,
    })
}

/// The managed fields as AWS reports them; `None` where it does not say.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LiveFields {
    pub(super) engine_version: Option<String>,
    pub(super) mode: RedisMode,
    pub(super) node_type: Option<String>,
    pub(super) num_nodes: u32,
    pub(super) automatic_failover: bool,
    pub(super) port: Option<u16>,
    pub(super) snapshot_retention_days: u32,
    pub(super) transit_encryption: bool,
    pub(super) at_rest_encryption: bool,
    pub(super) parameters: Option<BTreeMap<String, String>>,
}

impl LiveFields {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "engine_version": self.engine_version,
            "mode": self.mode,
            "node_type": self.node_type,
            "num_nodes": self.num_nodes,
            "automatic_failover": self.automatic_failover,
            "port": self.port,
            "snapshot_retention_days": self.snapshot_retention_days,
            "transit_encryption": self.transit_encryption,
            "at_rest_encryption": self.at_rest_encryption,
            "parameters": self.parameters,
        })
    }
}

pub(super) fn to_u32(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

pub(super) fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// What `update` changes with ModifyReplicationGroup / ModifyCacheCluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Modification {
    pub(super) node_type: Option<String>,
    pub(super) engine_version: Option<String>,
    pub(super) automatic_failover: Option<bool>,
    pub(super) snapshot_retention_days: Option<u32>,
    pub(super) parameter_group: Option<String>,
}

impl Modification {
    pub(super) fn between(
        spec: &RedisSpec,
        current: &LiveFields,
        parameter_group: Option<String>,
    ) -> Self {
        let wanted_version = normalise_engine_version(&spec.engine_version);
        Modification {
            node_type: (current.node_type.as_deref() != Some(spec.node_type.as_str()))
                .then(|| spec.node_type.clone()),
            // An unknown live version is left alone rather than "changed" to itself.
            engine_version: current
                .engine_version
                .as_ref()
                .filter(|v| **v != wanted_version)
                .map(|_| spec.engine_version.clone()),
            automatic_failover: (current.mode == RedisMode::ReplicationGroup
                && current.automatic_failover != spec.automatic_failover)
                .then_some(spec.automatic_failover),
            snapshot_retention_days: (current.snapshot_retention_days
                != spec.snapshot_retention_days)
                .then_some(spec.snapshot_retention_days),
            parameter_group,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Modification::default()
    }
}

/// What AWS would reject, said before anything is created.
pub(super) fn check_spec(spec: &RedisSpec) -> Result<(), ProviderError> {
    let invalid = |message: &str, hint: &str| {
        Err(ProviderError::new(ErrorKind::Invalid, message).with_hint(hint))
    };
    if spec.mode == RedisMode::CacheCluster && spec.at_rest_encryption {
        return invalid(
            "a `cache-cluster` cannot encrypt at rest: CreateCacheCluster has no such option",
            "set `atRestEncryption: false`, or use `cluster.mode: replication-group` \
             (a one-node replication group encrypts at rest)",
        );
    }
    if spec.mode == RedisMode::CacheCluster && spec.num_nodes != 1 {
        return invalid(
            "a `cache-cluster` has exactly one node",
            "use `cluster.mode: replication-group` for replicas",
        );
    }
    if spec.automatic_failover && spec.num_nodes < 2 {
        return invalid(
            "automatic failover needs at least 2 nodes",
            "set `numNodes: 2` or more",
        );
    }
    if !spec.parameters.is_empty() && engine_family(&spec.engine_version).is_none() {
        return invalid(
            &format!(
                "no parameter group family is known for Redis {}",
                spec.engine_version
            ),
            "use engine version 4.0, 5.0, 6.x or 7.x, or remove `parameters`",
        );
    }
    Ok(())
}

/// Fields that only a new cache can change: `field_change` says `Replace` for them, and
/// `update` refuses a change of one rather than pretend (`check_in_place`).
pub(super) const REPLACE_FIELDS: &[&str] =
    &["mode", "port", "transit_encryption", "at_rest_encryption"];

/// The replace-only fields whose live value differs from the spec's; a field AWS does
/// not report (`null`, such as moto's port of a cache cluster) is not a difference.
pub(super) fn replacement_needed(spec: &RedisSpec, current: &LiveFields) -> Vec<&'static str> {
    let (desired, live) = (desired_fields(spec), current.to_json());
    REPLACE_FIELDS
        .iter()
        .copied()
        .filter(|field| !live[field].is_null() && live[field] != desired[field])
        .collect()
}

/// Fails when a replace-only field would change, so that `update` never pretends.
pub(super) fn check_in_place(spec: &RedisSpec, current: &LiveFields) -> Result<(), ProviderError> {
    let fixed = replacement_needed(spec, current);
    if fixed.is_empty() {
        return Ok(());
    }
    Err(ProviderError::new(
        ErrorKind::Invalid,
        format!("{} cannot change in place", fixed.join(", ")),
    )
    .with_hint("these fields replace the cache; plan again to see the replacement"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elasticache::testing::spec;

    #[test]
    fn specs_aws_would_reject_are_refused_first() {
        let mut cluster = spec(1, "cache.t3.micro");
        cluster.mode = RedisMode::CacheCluster;
        let err = check_spec(&cluster).expect_err("a cache cluster cannot encrypt at rest");
        assert_eq!(err.kind, ErrorKind::Invalid);
        cluster.at_rest_encryption = false;
        assert!(check_spec(&cluster).is_ok());
        let mut old = spec(2, "cache.t3.micro");
        old.engine_version = "2.8".into();
        old.parameters
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        assert_eq!(
            check_spec(&old).map_err(|e| e.kind),
            Err(ErrorKind::Invalid)
        );
    }

    #[test]
    fn update_refuses_exactly_the_replace_only_fields() {
        let wanted = spec(2, "cache.t3.micro");
        let live = LiveFields {
            engine_version: Some(normalise_engine_version(&wanted.engine_version)),
            mode: wanted.mode,
            node_type: Some(wanted.node_type.clone()),
            num_nodes: wanted.num_nodes,
            automatic_failover: wanted.automatic_failover,
            port: Some(wanted.port),
            snapshot_retention_days: wanted.snapshot_retention_days,
            transit_encryption: wanted.transit_encryption,
            at_rest_encryption: wanted.at_rest_encryption,
            parameters: Some(wanted.parameters.clone()),
        };
        assert!(check_in_place(&wanted, &live).is_ok());
        // Every replace-only field is a managed field.
        let managed = desired_fields(&wanted);
        for field in REPLACE_FIELDS {
            assert!(managed.get(field).is_some(), "{field}");
        }

        let moved = LiveFields {
            port: Some(wanted.port + 1),
            transit_encryption: !wanted.transit_encryption,
            ..live.clone()
        };
        let err = check_in_place(&wanted, &moved).expect_err("replace-only fields changed");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            "port, transit_encryption cannot change in place"
        );
        // An unreported port is not a change; in-place fields are update's to change.
        let unreported = LiveFields {
            port: None,
            node_type: Some("cache.t3.small".into()),
            num_nodes: 3,
            ..live
        };
        assert!(check_in_place(&wanted, &unreported).is_ok());
    }
}
