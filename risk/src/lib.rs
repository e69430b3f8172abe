//! The risk service: attributions in, commission decisions and risk levels out (DESIGN.md §3).
//!
//! Not built yet: it is the subject of the risk issue.
