//! The typed model of a stack: what every document kind means once its YAML is read.

pub(crate) mod components;
mod domain;
mod envelope;
mod infra;
mod stack;

pub use components::*;
pub use domain::*;
pub use envelope::*;
pub use infra::*;
pub use stack::*;

pub use crate::kinds::*;
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

/// The registry of component kinds: each line names a kind and its spec type, whose
/// [`Kind`] implementation (`crate::kinds`) holds everything the core knows about it.
/// From it come `ComponentKind` (with `ALL`), `ComponentSpec` (tagged by `kind` in
/// state and saved plans) and the dispatch from either to the kind's implementation.
macro_rules! component_kinds {
    ($( $(#[$attr:meta])* $variant:ident($spec:ty), )+) => {
        /// The component kinds panka turns into AWS resources.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
        )]
        pub enum ComponentKind {
            $( $(#[$attr])* $variant, )+
        }

        impl ComponentKind {
            pub const ALL: [ComponentKind; [$(stringify!($variant)),+].len()] =
                [$(ComponentKind::$variant),+];

            /// What the core knows about the kind, whatever its spec.
            pub fn info(self) -> &'static KindInfo {
                match self {
                    $( ComponentKind::$variant => &<$spec as Kind>::INFO, )+
                }
            }
        }

        /// A component's spec, one variant per kind.
        #[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum ComponentSpec {
            $( $(#[$attr])* $variant($spec), )+
        }

        impl ComponentSpec {
            /// Reads a `kind` component's spec (see [`Kind::lower`]).
            pub fn lower(
                kind: ComponentKind,
                spec: &mut crate::read::MapReader,
                infra: InfraSpec,
                ctx: &mut LowerContext,
                diags: &mut crate::diag::Diagnostics,
            ) -> ComponentSpec {
                match kind {
                    $( ComponentKind::$variant => {
                        ComponentSpec::$variant(<$spec as Kind>::lower(spec, infra, ctx, diags))
                    } )+
                }
            }

            pub fn kind(&self) -> ComponentKind {
                match self {
                    $( ComponentSpec::$variant(_) => ComponentKind::$variant, )+
                }
            }

            /// See [`Kind::physical_names`].
            pub fn physical_names(
                &self,
                ctx: &crate::reconcile::ResourceContext,
            ) -> Vec<(crate::naming::Namespace, String)> {
                match self {
                    $( ComponentSpec::$variant(spec) => spec.physical_names(ctx), )+
                }
            }

            /// See [`Kind::monthly_cost`].
            pub fn monthly_cost(
                &self,
                prices: &crate::cost::PriceTable,
            ) -> Result<crate::cost::Cost, crate::cost::UnknownPrice> {
                match self {
                    $( ComponentSpec::$variant(spec) => spec.monthly_cost(prices), )+
                }
            }

            /// See [`Kind::key_attributes`].
            pub fn key_attributes(&self) -> Vec<String> {
                match self {
                    $( ComponentSpec::$variant(spec) => spec.key_attributes(), )+
                }
            }
        }
    };
}

component_kinds! {
    MicroService(MicroServiceSpec),
    #[serde(rename = "RDS")]
    Rds(RdsSpec),
    #[serde(rename = "SQS")]
    Sqs(SqsSpec),
    ElastiCacheRedis(RedisSpec),
}

impl ComponentKind {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Outputs other components may read through `valueFrom`.
    pub fn outputs(self) -> &'static [&'static str] {
        self.info().outputs
    }

    /// Stateful kinds hold data: replacing or deleting them is a dangerous operation.
    pub fn is_stateful(self) -> bool {
        self.info().stateful
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
