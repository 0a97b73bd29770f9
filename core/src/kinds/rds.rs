//! RDS: one database instance, with its subnet group, parameter group and security groups.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations};
use crate::cost::{Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, cents, line, sum};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::components::{
    LowerContext, check_secret_key, check_secret_ref, closed_set, port_value,
};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec};
use crate::naming::{Namespace, limits, physical};
use crate::read::{self, MapReader};
use crate::reconcile::ResourceContext;
use crate::source::Span;
use crate::yaml::Node;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
        lower_rds(spec, diags)
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
        Engine::Postgres => (*postgres, "PostgreSQL"),
        Engine::MySql => (*mysql, "MySQL"),
        Engine::MariaDb => (*mysql, "MariaDB"),
    };
    let storage = match rds.storage_type {
        StorageType::Gp2 => t.rds_gp2,
        StorageType::Gp3 => t.rds_gp3,
        StorageType::Io1 => t.rds_io1,
        StorageType::Io2 => t.rds_io2,
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
            StorageType::Gp3 if gb >= 400 => 12_000,
            StorageType::Gp3 => 3_000,
            StorageType::Gp2 => u32::MAX,
            StorageType::Io1 | StorageType::Io2 => 0,
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

// ---------------------------------------------------------------- RDS

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RdsSpec {
    pub engine: Engine,
    pub engine_version: String,
    pub instance_class: String,
    pub storage_type: StorageType,
    pub allocated_gb: u32,
    pub max_allocated_gb: Option<u32>,
    pub iops: Option<u32>,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    pub database_name: String,
    pub username: String,
    pub port: u16,
    pub password_secret: String,
    pub password_key: Option<String>,
    pub backup_retention_days: u32,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    /// `None` means the environment's default: on in production, off elsewhere.
    pub deletion_protection: Option<bool>,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub spans: RdsSpans,
}

closed_set! {
    /// `spec.engine.type`: the database engine, as RDS names it.
    pub enum Engine {
        Postgres => "postgres",
        MySql => "mysql",
        MariaDb => "mariadb",
    }
}

closed_set! {
    /// `spec.instance.storage.type`: the EBS volume type, as RDS names it.
    pub enum StorageType {
        Gp2 => "gp2",
        Gp3 => "gp3",
        Io1 => "io1",
        Io2 => "io2",
    }
}

impl StorageType {
    /// Provisioned-IOPS volumes, which need `iops`.
    pub fn is_provisioned_iops(self) -> bool {
        matches!(self, StorageType::Io1 | StorageType::Io2)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RdsSpans {
    pub publicly_accessible: Option<Span>,
    pub deletion_protection: Option<Span>,
    pub backup_retention: Option<Span>,
    pub multi_az: Option<Span>,
}

pub(crate) fn lower_rds(spec: &mut MapReader, diags: &mut Diagnostics) -> RdsSpec {
    let mut rds = RdsSpec {
        engine: Engine::Postgres,
        engine_version: String::new(),
        instance_class: String::new(),
        storage_type: StorageType::Gp3,
        allocated_gb: 20,
        max_allocated_gb: None,
        iops: None,
        multi_az: false,
        publicly_accessible: false,
        database_name: String::new(),
        username: String::new(),
        port: 5432,
        password_secret: String::new(),
        password_key: None,
        backup_retention_days: 7,
        backup_window: None,
        maintenance_window: None,
        deletion_protection: None,
        parameters: BTreeMap::new(),
        spans: RdsSpans::default(),
    };
    if let Some(mut m) = spec.required_map("engine", diags) {
        if let Some(node) = m.required("type", diags) {
            rds.engine = read::choice(node, "spec.engine.type", diags).unwrap_or(Engine::Postgres);
        }
        let version_node = m.get("version");
        rds.engine_version = m.required_string("version", diags).unwrap_or_default();
        // Minor upgrades are off (the spec pins the version), so `15` would never match
        // what RDS reports (`15.4`) and every plan would show a change.
        if let Some(node) = version_node
            && !is_unresolved(node)
            && !is_full_version(&rds.engine_version)
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    format!("`{}` is not a full engine version", rds.engine_version),
                )
                .with_label("expected major.minor")
                .with_hint(
                    "write the exact version, e.g. \"15.4\" (quoted, so YAML keeps it text)",
                ),
            );
        }
        m.finish(diags);
    }
    rds.port = match rds.engine {
        Engine::Postgres => 5432,
        Engine::MySql | Engine::MariaDb => 3306,
    };
    if let Some(mut m) = spec.required_map("instance", diags) {
        if let Some(node) = m.required("class", diags) {
            rds.instance_class =
                read::string(node, "spec.instance.class", diags).unwrap_or_default();
            if !rds.instance_class.starts_with("db.") {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{}` is not an RDS instance class", rds.instance_class),
                    )
                    .with_label("expected db.<family>.<size>")
                    .with_hint("for example `db.t3.small`"),
                );
            }
        }
        if let Some(mut storage) = m.map("storage", diags) {
            rds.storage_type = storage.choice("type", diags).unwrap_or(StorageType::Gp3);
            rds.allocated_gb = storage.int("allocatedGB", 20..=65536, diags).unwrap_or(20) as u32;
            let max_node = storage.get("maxAllocatedGB");
            rds.max_allocated_gb = storage
                .int("maxAllocatedGB", 20..=65536, diags)
                .map(|v| v as u32);
            rds.iops = storage.int("iops", 1000..=256000, diags).map(|v| v as u32);
            if let (Some(max), Some(node)) = (rds.max_allocated_gb, max_node)
                && max < rds.allocated_gb
            {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!(
                            "`maxAllocatedGB` ({max}) is below `allocatedGB` ({})",
                            rds.allocated_gb
                        ),
                    )
                    .with_label("below allocatedGB"),
                );
            }
            if rds.storage_type.is_provisioned_iops() && rds.iops.is_none() {
                diags.push(
                    Diagnostic::at(
                        "E022",
                        storage.anchor(),
                        format!("`{}` storage needs `iops`", rds.storage_type),
                    )
                    .with_label("`iops` is missing here"),
                );
            }
            storage.finish(diags);
        }
        rds.spans.multi_az = m.get("multiAZ").map(|n| n.span);
        rds.multi_az = m.bool("multiAZ", diags).unwrap_or(false);
        rds.spans.publicly_accessible = m.get("publiclyAccessible").map(|n| n.span);
        rds.publicly_accessible = m.bool("publiclyAccessible", diags).unwrap_or(false);
        m.finish(diags);
    }
    if let Some(mut m) = spec.required_map("database", diags) {
        if let Some(node) = m.required("name", diags) {
            rds.database_name = read::string(node, "spec.database.name", diags).unwrap_or_default();
            check_sql_identifier("database name", &rds.database_name, 63, node.span, diags);
        }
        if let Some(node) = m.required("username", diags) {
            rds.username = read::string(node, "spec.database.username", diags).unwrap_or_default();
            let max = match rds.engine {
                Engine::Postgres => 63,
                Engine::MySql | Engine::MariaDb => 16,
            };
            check_sql_identifier("master username", &rds.username, max, node.span, diags);
            if rds.username == "rdsadmin" {
                diags.push(
                    Diagnostic::at("E025", node.span, "`rdsadmin` is reserved by RDS")
                        .with_label("reserved"),
                );
            }
        }
        if let Some(node) = m.get("port") {
            rds.port = port_value(node, "spec.database.port", diags).unwrap_or(rds.port);
        }
        if let Some(mut secret) = m.required_map("passwordSecret", diags) {
            rds.password_secret = secret.required_string("ref", diags).unwrap_or_default();
            rds.password_key = secret.string("key", diags);
            check_secret_ref(secret.get("ref"), "spec.database.passwordSecret.ref", diags);
            check_secret_key(secret.get("key"), "spec.database.passwordSecret.key", diags);
            secret.finish(diags);
        }
        m.finish(diags);
    }
    if let Some(mut m) = spec.map("backup", diags) {
        rds.spans.backup_retention = m.get("retentionDays").map(|n| n.span);
        rds.backup_retention_days = m.int("retentionDays", 0..=35, diags).unwrap_or(7) as u32;
        if let Some(node) = m.get("window") {
            check_window(node, "spec.backup.window", false, diags);
        }
        rds.backup_window = m.string("window", diags);
        m.finish(diags);
    }
    if let Some(node) = spec.get("maintenanceWindow") {
        check_window(node, "spec.maintenanceWindow", true, diags);
    }
    rds.maintenance_window = spec.string("maintenanceWindow", diags);
    rds.spans.deletion_protection = spec.get("deletionProtection").map(|n| n.span);
    rds.deletion_protection = spec.bool("deletionProtection", diags);
    rds.parameters = spec.string_map("parameters", diags).unwrap_or_default();
    rds
}

fn is_unresolved(node: &Node) -> bool {
    matches!(&node.value, crate::yaml::Value::Scalar(s) if s.unresolved)
}

/// `15.4`, `8.0.35`: digits, at least one dot.
fn is_full_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// RDS windows: `hh24:mi-hh24:mi` (backup) or `ddd:hh24:mi-ddd:hh24:mi` (maintenance),
/// in UTC, at least 30 minutes long.
fn parse_window(text: &str, with_day: bool) -> Option<(u32, u32)> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let point = |p: &str| -> Option<u32> {
        let (day, time) = if with_day {
            let (d, t) = p.split_once(':')?;
            (DAYS.iter().position(|x| *x == d)? as u32, t)
        } else {
            (0, p)
        };
        let (h, m) = time.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && time.len() == 5).then_some(day * 1440 + h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    Some((point(start)?, point(end)?))
}

fn check_window(node: &Node, path: &str, with_day: bool, diags: &mut Diagnostics) {
    let Some(text) = node.as_str() else { return };
    if is_unresolved(node) {
        return;
    }
    let format = if with_day {
        "ddd:hh24:mi-ddd:hh24:mi, e.g. sun:04:00-sun:04:30"
    } else {
        "hh24:mi-hh24:mi, e.g. 03:00-03:30"
    };
    match parse_window(text, with_day) {
        None => diags.push(
            Diagnostic::at(
                "E025",
                node.span,
                format!("`{path}` must look like {format} (UTC)"),
            )
            .with_label("invalid window"),
        ),
        Some((start, end)) => {
            let span_minutes = if end >= start {
                end - start
            } else {
                end + if with_day { 7 * 1440 } else { 1440 } - start
            };
            if span_minutes < 30 {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{path}` must be at least 30 minutes long"),
                    )
                    .with_label("too short"),
                );
            }
        }
    }
}

fn check_sql_identifier(what: &str, value: &str, max: usize, span: Span, diags: &mut Diagnostics) {
    let valid = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        diags.push(
            Diagnostic::at("E025", span, format!("`{value}` is not a valid {what}"))
                .with_label("invalid identifier")
                .with_hint("start with a letter; use letters, digits and underscores"),
        );
    } else if value.len() > max {
        diags.push(
            Diagnostic::at(
                "E025",
                span,
                format!("the {what} may have at most {max} characters"),
            )
            .with_label("too long"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_versions_must_be_full() {
        assert!(is_full_version("15.4"));
        assert!(is_full_version("8.0.35"));
        assert!(!is_full_version("15"));
        assert!(!is_full_version("15.x"));
        assert!(!is_full_version("15."));
    }

    #[test]
    fn rds_windows_are_parsed_in_minutes() {
        assert_eq!(parse_window("03:00-03:30", false), Some((180, 210)));
        assert_eq!(
            parse_window("sun:04:00-sun:04:30", true),
            Some((6 * 1440 + 240, 6 * 1440 + 270))
        );
        assert_eq!(parse_window("3:00-3:30", false), None);
        assert_eq!(parse_window("25:00-26:00", false), None);
        assert_eq!(parse_window("sunday:04:00-sun:05:00", true), None);
        assert_eq!(parse_window("03:00", false), None);
    }
}
