//! The one ownership policy for resources found under a component's deterministic names
//! (security groups, subnet and parameter groups, DB instances, caches, load balancers, …).
//!
//! - **Create and update** look every name up before anything changes. A resource with
//!   this component's tags is adopted; one without panka's tags is refused as `Foreign`
//!   ("was not created by panka"), and one with another component's tags as `Foreign`
//!   naming that component. A refusal changes nothing.
//! - **Delete** removes a resource only when it is the component's: recorded in the
//!   component's state (its id, or its name under its role), or tagged as its own. Anything
//!   else under the component's names is refused as `Foreign`, naming it, and left as it
//!   is. A resource already gone is a finished delete ([`super::gone`]).
//!
//! Tags are read only when state does not vouch for the resource, so a recorded resource
//! costs no extra call.

use crate::naming;
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, ResourceContext};
use std::collections::BTreeMap;
use std::future::Future;

/// The `Foreign` error for the `what` called `name` that carries `tags`: it names the
/// resource and, when it has one, the component it belongs to.
pub(crate) fn foreign(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> ProviderError {
    ProviderError::new(
        ErrorKind::Foreign,
        naming::foreign_reason(ctx, what, name, tags),
    )
    .with_hint(format!(
        "rename or delete that {what}; panka changes only resources it created"
    ))
}

/// `Ok` when `tags` mark the resource as this component's, else a `Foreign` error.
pub(crate) fn check_owned(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if naming::owned_by(ctx, tags) {
        Ok(())
    } else {
        Err(foreign(ctx, what, name, tags))
    }
}

/// `Ok` when `tags` mark the resource as shared by this stack and environment (their
/// tags, no component's), else a `Foreign` error.
pub(crate) fn check_environment_owned(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let shared = naming::environment_tags(ctx)
        .iter()
        .all(|(k, v)| tags.get(k) == Some(v))
        && !tags.contains_key(panka_core::reconcile::COMPONENT_TAG);
    if shared {
        Ok(())
    } else {
        Err(foreign(ctx, what, name, tags))
    }
}

/// Whether the component's state recorded `value` under `key`, which vouches for it: state
/// holds only what the component created or adopted.
pub(crate) fn recorded(known: &KnownIds, key: &str, value: &str) -> bool {
    known.get(key).is_some_and(|v| v == value)
}

/// `Ok` when the resource is the component's: `recorded` in its state, or else carrying
/// its tags (`tags` is awaited only then); otherwise `Foreign`.
pub(crate) async fn ensure_ours(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    recorded: bool,
    tags: impl Future<Output = Result<BTreeMap<String, String>, ProviderError>>,
) -> Result<(), ProviderError> {
    if recorded {
        return Ok(());
    }
    check_owned(ctx, what, name, &tags.await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::model::ComponentId;

    fn ctx(component: &str) -> ResourceContext {
        ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id: ComponentId::new("web", component),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        }
    }

    #[tokio::test]
    async fn recorded_or_tagged_is_ours_and_anything_else_is_foreign() {
        let ours = ctx("api");
        let other = ctx("worker").tags();
        let untagged = BTreeMap::new();
        assert!(check_owned(&ours, "security group", "g", &ours.tags()).is_ok());

        let err = check_owned(&ours, "security group", "g", &other).expect_err("another's");
        assert_eq!(err.kind, ErrorKind::Foreign);
        assert!(
            err.message.contains("belongs to web/worker"),
            "{}",
            err.message
        );
        assert!(err.hint.is_some());
        let err = check_owned(&ours, "security group", "g", &untagged).expect_err("untagged");
        assert!(err.message.contains("no panka tags"), "{}", err.message);

        let known = KnownIds::from([("security_group_id".to_string(), "sg-1".to_string())]);
        assert!(recorded(&known, "security_group_id", "sg-1"));
        assert!(!recorded(&known, "security_group_id", "sg-2"));
        assert!(!recorded(&known, "client_security_group_id", "sg-1"));

        // State vouches: the tags are not read.
        let reads = std::cell::Cell::new(0);
        let tags = || async {
            reads.set(reads.get() + 1);
            Ok::<_, ProviderError>(BTreeMap::new())
        };
        ensure_ours(&ours, "DB subnet group", "g", true, tags())
            .await
            .expect("recorded");
        assert_eq!(reads.get(), 0);
        let err = ensure_ours(&ours, "DB subnet group", "g", false, tags())
            .await
            .expect_err("untagged and not recorded");
        assert_eq!(err.kind, ErrorKind::Foreign);
        assert_eq!(reads.get(), 1);
    }
}
