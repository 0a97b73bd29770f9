//! Renderers for people: the walkthrough's boxes and trees.

pub mod deploy_report;
pub mod drift_report;
pub mod history_table;
pub mod plan_box;
pub mod progress;
pub mod status_box;
