//! What a region charges and emits: prices, currency and grid intensity, and the host's embodied
//! emissions.

use super::money::Currency;

/// Joules in one kilowatt-hour.
pub(crate) const JOULES_PER_KWH: f64 = 3.6e6;

/// Prices and grid intensity of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPricing {
    pub(crate) name: String,
    pub(crate) location: String,
    pub(crate) currency: Currency,
    pub(crate) electricity_per_kwh: f64,
    pub(crate) compute_per_core_hour: f64,
    pub(crate) intensity_g_per_kwh: f64,
    pub(crate) intensity_source: String,
    pub(crate) intensity_year: u32,
    /// Zone of the hourly intensity file, if one is used for this region.
    pub(crate) intensity_zone: Option<String>,
}

/// Embodied emissions of this host, spread over its lifespan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Embodied {
    pub(crate) grams: f64,
    pub(crate) lifespan_seconds: f64,
}
