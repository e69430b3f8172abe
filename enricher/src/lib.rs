//! The enricher service: valid touchpoints in, enriched touchpoints out (DESIGN.md §2–3).
//!
//! Not built yet: it is the subject of the enricher issue. The member exists so the workspace
//! layout, versions and lints are fixed from the start.
