//! `read`: the component from its described instance, its parameter group's user
//! parameters and its security groups.

use super::fields::live_fields;
use super::names::Names;
use super::{
    ID_ALLOCATED_FLOOR_GB, ID_CLIENT_SECURITY_GROUP, ID_INSTANCE, ID_PARAMETER_GROUP,
    ID_SECURITY_GROUP, ID_SUBNET_GROUP, RdsReconciler,
};
use crate::network;
use aws_sdk_rds::types::DbInstance;
use panka_core::reconcile::{Observed, ProviderError};
use std::collections::BTreeMap;

impl RdsReconciler {
    /// The component as `read` returns it, from its described instance.
    pub(super) async fn observe(
        &self,
        names: &Names,
        instance: &DbInstance,
        floor: Option<u32>,
    ) -> Result<Observed, ProviderError> {
        let parameter_group = instance
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .unwrap_or(&names.parameter_group)
            .to_string();
        let subnet_group = instance
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .unwrap_or(&names.subnet_group)
            .to_string();
        let parameters = self.user_parameters(&parameter_group).await?;
        let fields = live_fields(instance, parameters, floor);
        let (db_group, client_group) = match instance.db_subnet_group().and_then(|g| g.vpc_id()) {
            Some(vpc_id) => tokio::try_join!(
                network::find_security_group(&self.ec2, vpc_id, &names.db_security_group),
                network::find_security_group(&self.ec2, vpc_id, &names.client_security_group),
            )?,
            None => (None, None),
        };
        let db_group_id = db_group.map(|g| g.id).or_else(|| {
            instance
                .vpc_security_groups()
                .first()
                .and_then(|g| g.vpc_security_group_id())
                .map(str::to_string)
        });
        let client_group_id = client_group.map(|g| g.id);

        let mut physical_ids = BTreeMap::from([
            (ID_INSTANCE.to_string(), names.instance.clone()),
            (ID_SUBNET_GROUP.to_string(), subnet_group),
            (ID_PARAMETER_GROUP.to_string(), parameter_group),
        ]);
        physical_ids.extend(db_group_id.map(|id| (ID_SECURITY_GROUP.to_string(), id)));
        physical_ids.extend(floor.map(|gb| (ID_ALLOCATED_FLOOR_GB.to_string(), gb.to_string())));
        physical_ids.extend(
            client_group_id
                .clone()
                .map(|id| (ID_CLIENT_SECURITY_GROUP.to_string(), id)),
        );

        let mut outputs = BTreeMap::from([("port".to_string(), fields.port.to_string())]);
        outputs.extend(
            instance
                .endpoint()
                .and_then(|e| e.address())
                .map(|address| ("endpoint".to_string(), address.to_string())),
        );
        outputs.extend(
            instance
                .db_instance_arn()
                .map(|arn| ("arn".to_string(), arn.to_string())),
        );
        outputs.extend(client_group_id.map(|id| ("client_security_group_id".to_string(), id)));

        Ok(Observed {
            physical_ids,
            fields: fields.to_json(),
            outputs,
        })
    }
}
