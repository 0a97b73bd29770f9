//! The cache's two security groups: `<base>-redis-clients` (no inbound rules; its id is
//! the internal output `client_security_group_id`, which a dependent attaches) and
//! `<base>-redis` on the cache, which admits the Redis port only from it.

use super::RedisReconciler;
use super::names::{Names, ids};
use crate::shared::security_groups::{self, ClientGuarded};
use panka_core::reconcile::{KnownIds, ProviderError, ResourceContext};

impl RedisReconciler {
    /// Creates or adopts both groups; returns the `(cache, clients)` ids.
    pub(super) async fn ensure_security_groups(
        &self,
        ctx: &ResourceContext,
        vpc_id: &str,
        names: &Names,
        port: u16,
    ) -> Result<(String, String), ProviderError> {
        let server = format!("Redis {}: port {port} from its clients only", names.cache);
        let clients = format!("Clients of Redis {}", names.cache);
        security_groups::ensure_with_clients(
            &self.ec2,
            ctx,
            vpc_id,
            ClientGuarded {
                server: (&names.security_group, &server),
                clients: (&names.client_security_group, &clients),
                port,
            },
        )
        .await
    }

    /// Deletes both groups when they are the component's (ids recorded in `known`, or
    /// its tags).
    pub(super) async fn delete_security_groups(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        vpc_id: &str,
        names: &Names,
    ) -> Result<(), ProviderError> {
        // The cache's group first: its rule names the clients group, which holds it.
        for (key, name) in [
            (ids::SECURITY_GROUP, &names.security_group),
            (ids::CLIENT_SECURITY_GROUP, &names.client_security_group),
        ] {
            security_groups::delete_owned(
                &self.ec2,
                ctx,
                vpc_id,
                name,
                known.get(key).map(String::as_str),
                self.security_group_patience,
            )
            .await?;
        }
        Ok(())
    }
}
