//! Adoption: a resource found under this component's name is taken over only when it
//! carries this component's tags.

use crate::naming;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// `Ok` when `tags` mark the resource as this component's, else a `Foreign` error.
pub fn check_owned(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if naming::owned_by(ctx, tags) {
        return Ok(());
    }
    Err(ProviderError::new(
        ErrorKind::Foreign,
        naming::foreign_reason(ctx, what, name, tags),
    )
    .with_hint(format!(
        "rename or delete that {what}; panka changes only resources it created"
    )))
}
