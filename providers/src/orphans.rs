//! Resources carrying a stack+environment's ownership tags, for `drift` to report those
//! state does not know. Each kind's reconciler lists its own (`Reconciler::tagged`, so a
//! new kind cannot forget it); this module runs them together and holds what the
//! listings share.

use crate::reconcilers::Reconcilers;
use futures_util::{StreamExt, TryStreamExt};
use panka_core::drift::{Owner, TaggedResource};
use panka_core::model::ComponentKind;
use panka_core::reconcile::ProviderError;
use std::collections::BTreeMap;
use std::future::Future;

/// Tag reads in flight at once: enough to hide latency, few enough to stay off throttling.
const CONCURRENT_TAG_READS: usize = 8;

/// Every resource of every kind tagged for `owner`, sorted by kind and id.
pub async fn tagged_resources(
    reconcilers: &Reconcilers,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    let listings = ComponentKind::ALL
        .into_iter()
        .map(|kind| reconcilers.for_kind(kind).tagged(owner));
    let mut all: Vec<TaggedResource> = futures_util::future::try_join_all(listings)
        .await?
        .into_iter()
        .flatten()
        .collect();
    all.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    Ok(all)
}

/// A resource as its listing names it, before its tags are read.
pub(crate) struct Listed {
    /// The identifier drift reports it by.
    pub id: String,
    /// Other names state may have recorded (a name, an ARN).
    pub aliases: Vec<String>,
    /// What the tag read is addressed by (a URL, an ARN, a name).
    pub tags_by: String,
}

/// Reads the tags of each listed resource, a few at a time, and keeps those `owner`
/// owns. `read_tags` gives `None` for a resource gone since its listing, which is left
/// out.
pub(crate) async fn owned_by_tags<F, Fut>(
    owner: &Owner,
    kind: &str,
    listed: Vec<Listed>,
    read_tags: F,
) -> Result<Vec<TaggedResource>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<BTreeMap<String, String>>, ProviderError>>,
{
    let found: Vec<Option<TaggedResource>> = futures_util::stream::iter(listed)
        .map(|item| {
            let tags = read_tags(item.tags_by);
            async move {
                let tags = tags.await?;
                Ok::<_, ProviderError>(
                    tags.and_then(|tags| owner.resource(kind, item.id, item.aliases, &tags)),
                )
            }
        })
        .buffer_unordered(CONCURRENT_TAG_READS)
        .try_collect()
        .await?;
    // Reads finish in any order; a listing gives the same answer twice.
    let mut owned: Vec<TaggedResource> = found.into_iter().flatten().collect();
    owned.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(owned)
}
