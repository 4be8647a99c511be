//! Statistics: Holt-Winters forecasting, least squares, and the offline commands.

pub mod forecast;
pub mod linalg;
pub mod offline;
pub mod optim;
pub mod regress;
