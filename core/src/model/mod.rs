//! The typed model of a stack: what every document kind means once its YAML is read.

mod components;
mod envelope;
mod infra;
mod stack;

pub use components::*;
pub use envelope::*;
pub use infra::*;
pub use stack::*;

use serde::Serialize;
use std::fmt;

/// `service/component`: how components are named everywhere (state, plans, `--target`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct ComponentId {
    pub service: String,
    pub component: String,
}

impl ComponentId {
    pub fn new(service: impl Into<String>, component: impl Into<String>) -> Self {
        ComponentId {
            service: service.into(),
            component: component.into(),
        }
    }

    /// Stands for every component of a service whose folder could not be read (a link
    /// refused, a folder that cannot be listed): their names are unknown, so references
    /// to any of them are not reported again. No component is named `""`.
    pub fn whole_service(service: impl Into<String>) -> Self {
        ComponentId::new(service, "")
    }

    /// Whether `unreadable` (see `StackFiles::unreadable_components`) holds this
    /// component or its whole service.
    pub fn is_in(&self, unreadable: &std::collections::BTreeSet<ComponentId>) -> bool {
        unreadable.contains(self) || unreadable.contains(&ComponentId::whole_service(&self.service))
    }

    /// Parses `service/component`; a bare `component` means one in `default_service`.
    pub fn parse(text: &str, default_service: &str) -> Option<Self> {
        match text.split_once('/') {
            Some((service, component))
                if !service.is_empty() && !component.is_empty() && !component.contains('/') =>
            {
                Some(ComponentId::new(service, component))
            }
            Some(_) => None,
            None if !text.is_empty() => Some(ComponentId::new(default_service, text)),
            None => None,
        }
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.component)
    }
}

impl From<ComponentId> for String {
    fn from(id: ComponentId) -> String {
        id.to_string()
    }
}

/// The four component kinds panka turns into AWS resources.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum ComponentKind {
    MicroService,
    #[serde(rename = "RDS")]
    Rds,
    #[serde(rename = "SQS")]
    Sqs,
    ElastiCacheRedis,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 4] = [
        ComponentKind::MicroService,
        ComponentKind::Rds,
        ComponentKind::Sqs,
        ComponentKind::ElastiCacheRedis,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::MicroService => "MicroService",
            ComponentKind::Rds => "RDS",
            ComponentKind::Sqs => "SQS",
            ComponentKind::ElastiCacheRedis => "ElastiCacheRedis",
        }
    }

    /// Outputs other components may read through `valueFrom`.
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            ComponentKind::MicroService => {
                &["url", "service_arn", "task_definition_arn", "log_group"]
            }
            ComponentKind::Rds => &["endpoint", "port", "arn"],
            ComponentKind::Sqs => &["url", "arn", "dlq_url", "dlq_arn"],
            ComponentKind::ElastiCacheRedis => &["endpoint", "port", "arn"],
        }
    }

    /// Stateful kinds hold data: replacing or deleting them is a dangerous operation.
    pub fn is_stateful(self) -> bool {
        matches!(self, ComponentKind::Rds | ComponentKind::ElastiCacheRedis)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_component_ids() {
        assert_eq!(
            ComponentId::parse("email-service/api", "x"),
            Some(ComponentId::new("email-service", "api"))
        );
        assert_eq!(
            ComponentId::parse("api", "svc"),
            Some(ComponentId::new("svc", "api"))
        );
        assert_eq!(ComponentId::parse("a/b/c", "svc"), None);
        assert_eq!(ComponentId::parse("/b", "svc"), None);
        assert_eq!(ComponentId::parse("", "svc"), None);
    }
}
