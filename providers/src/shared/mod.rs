//! What the component kinds share, so that each rule is written once:
//!
//! - [`ownership`]: the one ownership policy for resources found by name (adopt the
//!   component's own, refuse anything else as `Foreign`, delete only what is the
//!   component's);
//! - [`security_groups`]: security groups found by name in a VPC, created with the
//!   ownership tags, converged to exactly their ingress rules, deleted when owned;
//! - [`subnet_group`]: owned subnet groups (RDS's and ElastiCache's), created, moved to
//!   the wanted subnets and deleted with the ownership check;
//! - [`parameters`]: the delta between a parameter group's user parameters and the wanted
//!   ones;
//! - [`gone`]: "already gone" is a finished delete, and a look-up of nothing.

pub(crate) mod gone;
pub(crate) mod ownership;
pub(crate) mod parameters;
pub mod security_groups;
pub(crate) mod subnet_group;
