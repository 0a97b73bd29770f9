//! Owned subnet groups: RDS's DB subnet groups and ElastiCache's cache subnet groups take
//! the same steps through two SDKs, so the steps are written once here and each service
//! says how to make its calls ([`SubnetGroupApi`]).
//!
//! - [`ensure`]: create the group in the wanted subnets, or move an existing one (the
//!   component's, checked) there; a create that lost a race adopts the winner when it is
//!   the component's;
//! - [`delete`]: delete it when it is the component's (the policy of
//!   [`super::ownership`]); gone is done.

use super::gone::done_if_gone;
use super::ownership::{check_owned, ensure_ours};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// A subnet group as found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SubnetGroup {
    /// Its subnets, sorted.
    pub subnet_ids: Vec<String>,
    pub arn: Option<String>,
    pub vpc_id: Option<String>,
}

impl SubnetGroup {
    /// A found group from its (unsorted) subnets.
    pub fn new<'a>(
        subnet_ids: impl IntoIterator<Item = &'a str>,
        arn: Option<&str>,
        vpc_id: Option<&str>,
    ) -> Self {
        let mut subnet_ids: Vec<String> = subnet_ids.into_iter().map(str::to_string).collect();
        subnet_ids.sort();
        SubnetGroup {
            subnet_ids,
            arn: arn.map(str::to_string),
            vpc_id: vpc_id.map(str::to_string),
        }
    }
}

/// One service's subnet group calls. Each maps its SDK error with the message `doing`
/// given (`cannot create DB subnet group x`), classified so that a lost create race is
/// [`ErrorKind::AlreadyExists`], a group already gone [`ErrorKind::NotFound`] and one
/// still in use [`ErrorKind::Conflict`].
pub(crate) trait SubnetGroupApi {
    /// What the service calls it: `DB subnet group`, `cache subnet group`.
    const WHAT: &'static str;

    async fn find(&self, name: &str) -> Result<Option<SubnetGroup>, ProviderError>;

    /// The group's tags; `arn` is the one `find` reported.
    async fn tags(
        &self,
        name: &str,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, ProviderError>;

    async fn create(
        &self,
        ctx: &ResourceContext,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError>;

    async fn modify(
        &self,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError>;

    async fn delete(&self, name: &str, doing: &str) -> Result<(), ProviderError>;
}

/// Makes the group `name` exist in `subnet_ids` (sorted or not).
///
/// An existing group in other subnets is the component's (checked) and is moved in
/// place: the database's or cache's nodes stay where they are until replaced, and new
/// nodes go into the wanted subnets.
pub(crate) async fn ensure<A: SubnetGroupApi>(
    api: &A,
    ctx: &ResourceContext,
    name: &str,
    subnet_ids: &[String],
) -> Result<(), ProviderError> {
    if let Some(group) = api.find(name).await? {
        return converge(api, ctx, name, &group, subnet_ids).await;
    }
    let what = A::WHAT;
    match api
        .create(
            ctx,
            name,
            subnet_ids,
            &format!("cannot create {what} {name}"),
        )
        .await
    {
        // Another apply won the race: fine if it was this component's.
        Err(e) if e.kind == ErrorKind::AlreadyExists => {
            let arn = api.find(name).await?.and_then(|g| g.arn);
            check_owned(ctx, what, name, &api.tags(name, arn.as_deref()).await?)
        }
        other => other,
    }
}

async fn converge<A: SubnetGroupApi>(
    api: &A,
    ctx: &ResourceContext,
    name: &str,
    group: &SubnetGroup,
    subnet_ids: &[String],
) -> Result<(), ProviderError> {
    let mut wanted = subnet_ids.to_vec();
    wanted.sort();
    if group.subnet_ids == wanted {
        return Ok(());
    }
    let what = A::WHAT;
    check_owned(
        ctx,
        what,
        name,
        &api.tags(name, group.arn.as_deref()).await?,
    )?;
    let doing = format!(
        "cannot move {what} {name} from {} to {}",
        group.subnet_ids.join(", "),
        wanted.join(", ")
    );
    api.modify(name, &wanted, &doing).await
}

/// Deletes the group `name` when it is the component's (`recorded` in its state, or
/// tagged as its own); returns the VPC it was in, `None` when there was no group.
pub(crate) async fn delete<A: SubnetGroupApi>(
    api: &A,
    ctx: &ResourceContext,
    name: &str,
    recorded: bool,
) -> Result<Option<String>, ProviderError> {
    let Some(group) = api.find(name).await? else {
        return Ok(None);
    };
    let what = A::WHAT;
    ensure_ours(
        ctx,
        what,
        name,
        recorded,
        api.tags(name, group.arn.as_deref()),
    )
    .await?;
    done_if_gone(
        api.delete(name, &format!("cannot delete {what} {name}"))
            .await,
    )?;
    Ok(group.vpc_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::model::ComponentId;
    use std::sync::Mutex;

    /// A service holding at most one group, recording the calls made.
    #[derive(Default)]
    struct Fake {
        group: Mutex<Option<SubnetGroup>>,
        tags: BTreeMap<String, String>,
        calls: Mutex<Vec<String>>,
        /// Errors the next create (as a lost race) or delete (as already gone) with.
        fail_with: Option<ErrorKind>,
    }

    impl Fake {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }
        fn call(&self, call: String) {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(call);
            }
        }
        fn set(&self, group: Option<SubnetGroup>) {
            if let Ok(mut g) = self.group.lock() {
                *g = group;
            }
        }
        fn failure(&self, doing: &str) -> Result<(), ProviderError> {
            match self.fail_with {
                Some(kind) => Err(ProviderError::new(kind, doing)),
                None => Ok(()),
            }
        }
    }

    impl SubnetGroupApi for Fake {
        const WHAT: &'static str = "test subnet group";

        async fn find(&self, _name: &str) -> Result<Option<SubnetGroup>, ProviderError> {
            Ok(self.group.lock().map(|g| g.clone()).unwrap_or_default())
        }
        async fn tags(
            &self,
            name: &str,
            _arn: Option<&str>,
        ) -> Result<BTreeMap<String, String>, ProviderError> {
            self.call(format!("tags {name}"));
            Ok(self.tags.clone())
        }
        async fn create(
            &self,
            _ctx: &ResourceContext,
            name: &str,
            subnet_ids: &[String],
            doing: &str,
        ) -> Result<(), ProviderError> {
            self.call(format!("create {name} {}", subnet_ids.join(",")));
            self.set(Some(SubnetGroup::new(
                subnet_ids.iter().map(String::as_str),
                Some("arn"),
                Some("vpc-1"),
            )));
            self.failure(doing)
        }
        async fn modify(
            &self,
            name: &str,
            subnet_ids: &[String],
            doing: &str,
        ) -> Result<(), ProviderError> {
            self.call(format!("modify {name} {} ({doing})", subnet_ids.join(",")));
            Ok(())
        }
        async fn delete(&self, name: &str, doing: &str) -> Result<(), ProviderError> {
            self.call(format!("delete {name}"));
            self.failure(doing)
        }
    }

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

    fn subnets(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn created_then_left_alone_then_moved_when_ours() {
        let api = Fake {
            tags: ctx("db").tags(),
            ..Fake::default()
        };
        ensure(&api, &ctx("db"), "g", &subnets(&["subnet-b", "subnet-a"]))
            .await
            .expect("create");
        ensure(&api, &ctx("db"), "g", &subnets(&["subnet-a", "subnet-b"]))
            .await
            .expect("same subnets, in another order");
        ensure(&api, &ctx("db"), "g", &subnets(&["subnet-c", "subnet-a"]))
            .await
            .expect("move");
        assert_eq!(
            api.calls(),
            [
                "create g subnet-b,subnet-a",
                "tags g",
                "modify g subnet-a,subnet-c (cannot move test subnet group g from subnet-a, subnet-b to subnet-a, subnet-c)",
            ]
        );
    }

    #[tokio::test]
    async fn another_components_group_is_neither_moved_nor_deleted() {
        let api = Fake {
            group: Mutex::new(Some(SubnetGroup::new(["subnet-a"], Some("arn"), None))),
            tags: ctx("other").tags(),
            ..Fake::default()
        };
        let err = ensure(&api, &ctx("db"), "g", &subnets(&["subnet-b"]))
            .await
            .expect_err("foreign");
        assert_eq!(err.kind, ErrorKind::Foreign);
        assert!(err.message.contains("web/other"), "{}", err.message);
        let err = delete(&api, &ctx("db"), "g", false)
            .await
            .expect_err("foreign");
        assert_eq!(err.kind, ErrorKind::Foreign);
        assert_eq!(api.calls(), ["tags g", "tags g"]);
        // Recorded in the component's state: its own, whatever its tags say.
        delete(&api, &ctx("db"), "g", true).await.expect("recorded");
        assert_eq!(api.calls().last().map(String::as_str), Some("delete g"));
    }

    #[tokio::test]
    async fn a_lost_create_race_adopts_only_the_components_own_group() {
        for (owner, adopted) in [("db", true), ("other", false)] {
            let api = Fake {
                tags: ctx(owner).tags(),
                fail_with: Some(ErrorKind::AlreadyExists),
                ..Fake::default()
            };
            let result = ensure(&api, &ctx("db"), "g", &subnets(&["subnet-a"])).await;
            assert_eq!(result.is_ok(), adopted, "{owner}: {result:?}");
        }
    }

    #[tokio::test]
    async fn deleting_what_is_gone_is_done() {
        let api = Fake::default();
        assert_eq!(
            delete(&api, &ctx("db"), "g", false).await.expect("none"),
            None
        );
        assert!(api.calls().is_empty());
        let api = Fake {
            group: Mutex::new(Some(SubnetGroup::new(["subnet-a"], None, Some("vpc-1")))),
            tags: ctx("db").tags(),
            fail_with: Some(ErrorKind::NotFound),
            ..Fake::default()
        };
        assert_eq!(
            delete(&api, &ctx("db"), "g", false)
                .await
                .expect("gone meanwhile"),
            Some("vpc-1".to_string())
        );
    }
}
