//! Analysis of allocated costs: unit costs from unit-metric feeds, and budgets with an
//! end-of-period forecast. Reads allocations from the store; keeps unit metrics and budget
//! alerts there.

pub mod budgets;
pub mod unit_costs;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("unit-metric feed {feed}: {problem}")]
    Feed { feed: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}
