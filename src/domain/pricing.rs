//! What a region charges and emits: prices, currency and grid intensity, and the host's embodied
//! emissions.

use super::money::Currency;

/// Joules in one kilowatt-hour.
pub const JOULES_PER_KWH: f64 = 3.6e6;

/// Prices and grid intensity of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPricing {
    pub name: String,
    pub location: String,
    pub currency: Currency,
    pub electricity_per_kwh: f64,
    pub compute_per_core_hour: f64,
    pub intensity_g_per_kwh: f64,
    pub intensity_source: String,
    pub intensity_year: u32,
    /// Zone of the hourly intensity file, if one is used for this region.
    pub intensity_zone: Option<String>,
}

/// Embodied emissions of this host, spread over its lifespan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Embodied {
    pub grams: f64,
    pub lifespan_seconds: f64,
}
