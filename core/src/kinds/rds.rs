//! RDS: one database instance, with its subnet group, parameter group and security groups.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations};
use crate::cost::{Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, cents, line, sum};
use crate::diag::Diagnostics;
use crate::model::components::{self, LowerContext};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, RdsSpec};
use crate::naming::{Namespace, limits, physical};
use crate::read::MapReader;
use crate::reconcile::ResourceContext;

impl Kind for RdsSpec {
    const KIND: ComponentKind = ComponentKind::Rds;
    const INFO: KindInfo = KindInfo {
        name: "RDS",
        noun: "Database",
        outputs: &["endpoint", "port", "arn"],
        stateful: true,
        typical: TypicalDurations {
            create_s: 6 * 60,
            update_s: 2 * 60,
            delete_s: 6 * 60,
        },
        client_access: ClientAccess::NetworkOnly {
            why: "reached over the network, which the client security group opens; the \
                  password comes through the execution role's secrets (no IAM database auth)",
        },
    };

    fn lower(
        spec: &mut MapReader,
        _infra: InfraSpec,
        _ctx: &mut LowerContext,
        diags: &mut Diagnostics,
    ) -> Self {
        components::lower_rds(spec, diags)
    }

    fn narrow(spec: &ComponentSpec) -> Option<&Self> {
        match spec {
            ComponentSpec::Rds(rds) => Some(rds),
            _ => None,
        }
    }

    fn physical_names(&self, ctx: &ResourceContext) -> Vec<(Namespace, String)> {
        vec![
            (
                Namespace::RdsInstance,
                physical(ctx, "", limits::RDS_IDENTIFIER),
            ),
            (
                Namespace::DbSubnetGroup,
                physical(ctx, "", limits::DB_SUBNET_GROUP),
            ),
            (
                Namespace::DbParameterGroup,
                physical(ctx, "", limits::DB_PARAMETER_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-db", limits::SECURITY_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-clients", limits::SECURITY_GROUP),
            ),
        ]
    }

    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice> {
        monthly_cost(self, prices)
    }

    fn key_attributes(&self) -> Vec<String> {
        vec![
            format!("Engine: {} {}", self.engine, self.engine_version),
            format!("Instance: {}", self.instance_class),
            format!("Storage: {} GB", self.allocated_gb),
        ]
    }
}

/// The component's monthly cost at the table's on-demand prices.
fn monthly_cost(rds: &RdsSpec, t: &PriceTable) -> Result<Cost, UnknownPrice> {
    let (_, postgres, mysql) = t
        .rds_instances
        .iter()
        .find(|(class, _, _)| *class == rds.instance_class)
        .ok_or_else(|| UnknownPrice::new("RDS instance class", &rds.instance_class, t))?;
    let (hourly, engine) = match rds.engine {
        "postgres" => (*postgres, "PostgreSQL"),
        "mysql" => (*mysql, "MySQL"),
        "mariadb" => (*mysql, "MariaDB"),
        other => return Err(UnknownPrice::new("RDS engine", other, t)),
    };
    let storage = match rds.storage_type {
        "gp2" => t.rds_gp2,
        "gp3" => t.rds_gp3,
        "io1" => t.rds_io1,
        "io2" => t.rds_io2,
        other => return Err(UnknownPrice::new("RDS storage type", other, t)),
    };
    // Multi-AZ runs a standby with its own storage: instance, storage and IOPS double.
    let copies = if rds.multi_az { 2.0 } else { 1.0 };
    let az = if rds.multi_az {
        "Multi-AZ"
    } else {
        "Single-AZ"
    };
    let storage_lines = |gb: u32| {
        let mut lines = vec![line(
            format!("{} storage, {gb} GB ({az})", rds.storage_type),
            f64::from(gb) * copies,
            "GB-month",
            storage.gb_month,
        )];
        // gp3 includes 3,000 IOPS below 400 GB and 12,000 from 400 GB; io1/io2 bill all.
        let included = match rds.storage_type {
            "gp3" if gb >= 400 => 12_000,
            "gp3" => 3_000,
            "gp2" => u32::MAX,
            _ => 0,
        };
        let billed = rds.iops.unwrap_or(0).saturating_sub(included);
        if billed > 0 {
            lines.push(line(
                format!("{} provisioned IOPS, {billed} ({az})", rds.storage_type),
                f64::from(billed) * copies,
                "IOPS-month",
                storage.iops_month,
            ));
        }
        lines
    };
    let mut lines = vec![line(
        format!("{} {engine} instance ({az})", rds.instance_class),
        HOURS_PER_MONTH * copies,
        "instance-hour",
        hourly,
    )];
    lines.extend(storage_lines(rds.allocated_gb));
    let monthly = sum(&lines);
    let mut notes = vec![
        "backup storage beyond the free allowance (100 % of provisioned storage) is not \
         estimated"
            .to_string(),
    ];
    let mut max = monthly;
    if let Some(max_gb) = rds.max_allocated_gb.filter(|gb| *gb > rds.allocated_gb) {
        let grown = sum(&storage_lines(max_gb));
        let now = sum(&lines[1..]);
        max = cents(monthly - now + grown);
        notes.push(format!(
            "storage autoscaling up to {max_gb} GB is the upper bound"
        ));
    }
    Ok(Cost {
        monthly_usd: monthly,
        max_monthly_usd: max,
        price_region: t.region,
        lines,
        notes,
        approximated: None,
    })
}
