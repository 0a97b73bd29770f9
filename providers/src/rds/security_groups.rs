//! The database's two security groups: `<base>-clients` (no ingress; dependent
//! MicroServices attach it) and `<base>-db` on the instance, which admits the database
//! port only from it ([`security_groups::ensure_with_clients`]).

use super::names::Names;
use super::{ID_CLIENT_SECURITY_GROUP, ID_SECURITY_GROUP, RdsReconciler};
use crate::network::NetworkInfo;
use crate::shared::security_groups::{self, ClientGuarded};
use panka_core::reconcile::{KnownIds, ProviderError, ResourceContext};

impl RdsReconciler {
    /// Creates or adopts both groups; returns the `(db, clients)` ids.
    pub(super) async fn ensure_security_groups(
        &self,
        ctx: &ResourceContext,
        network: &NetworkInfo,
        names: &Names,
        port: u16,
    ) -> Result<(String, String), ProviderError> {
        let server = format!("panka: database {}", ctx.id);
        let clients = format!("panka: clients of database {}", ctx.id);
        security_groups::ensure_with_clients(
            &self.ec2,
            ctx,
            &network.vpc_id,
            ClientGuarded {
                server: (&names.db_security_group, &server),
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
        // The db group's rule names the clients group, so it goes first.
        for (key, name) in [
            (ID_SECURITY_GROUP, &names.db_security_group),
            (ID_CLIENT_SECURITY_GROUP, &names.client_security_group),
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
