//! finopsd: FinOps cost allocation and anomaly detection.
//!
//! Stages meet at the canonical cost record (`focus`) and the `store`; each stage is a module
//! that owns its types. The binary (`src/main.rs`) is a thin CLI over these.

pub mod allocate;
pub mod analyse;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod focus;
pub mod ingest;
pub mod notify;
pub mod report;
pub mod sample;
pub mod store;
