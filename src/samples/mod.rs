//! Samples: a cycle's reports and insights become series (the metric catalogue, the contract of
//! `docs/metrics.md`), kept in a flat store, put in output order, and written as request bodies.

mod body;
pub mod catalogue;
mod counters;
pub(crate) mod families;
mod index;
mod kept;
mod key;
mod order;
mod series;
mod text;

pub use body::BodyEncoder;
pub(crate) use counters::Counters;
pub use kept::KeptSeries;
pub use series::{GroupId, Series, SeriesSet};
pub use text::Declared;
