//! Renderers for people: the walkthrough's boxes and trees.

pub mod plan_box;
pub mod progress;
