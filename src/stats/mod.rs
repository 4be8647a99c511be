//! Statistics: automatic forecasting, Holt-Winters, least squares, and the offline commands.

pub mod auto;
pub mod forecast;
pub(crate) mod linalg;
pub mod offline;
pub(crate) mod optim;
pub mod regress;
