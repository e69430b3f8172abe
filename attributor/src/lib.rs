//! The attributor service: enriched touchpoints in, attributions with commission line items
//! out (DESIGN.md §3, §5).
//!
//! Not built yet: it is the subject of the attributor issue.
