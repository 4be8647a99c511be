//! Halving a request body: for a receiver that says it is too large (413), and to find the
//! samples a receiver refused (400, 409, 422). By series, or a single series by its samples,
//! earlier ones first, so sending the halves in order keeps time order.

use super::proto::{self, TimeSeries, WriteRequest};

/// Splits a request body into two, by series (or, for a single series, by samples, earlier
/// ones first). `None` when it holds one sample.
pub(crate) fn split(body: &[u8]) -> Option<[(Vec<u8>, u64); 2]> {
    let mut req = proto::decode(body).ok()?;
    let (a, b) = if req.timeseries.len() >= 2 {
        let tail = req.timeseries.split_off(req.timeseries.len() / 2);
        (req.timeseries, tail)
    } else {
        let mut ts = req.timeseries.pop()?;
        if ts.samples.len() < 2 {
            return None;
        }
        let mut second = ts.clone();
        second.samples = ts.samples.split_off(ts.samples.len() / 2);
        (vec![ts], vec![second])
    };
    let enc = |timeseries: Vec<TimeSeries>| {
        let n = timeseries.iter().map(|t| t.samples.len() as u64).sum();
        (proto::encode(&WriteRequest { timeseries, ..WriteRequest::default() }), n)
    };
    Some([enc(a), enc(b)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::proto::{self, test_body};

    #[test]
    fn split_one_series_keeps_time_order() {
        let (b, _) = test_body(1, 5);
        let [(a, na), (c, nc)] = split(&b).unwrap();
        assert_eq!((na, nc), (2, 3));
        let ts = |b: &[u8]| {
            proto::decode(b).unwrap().timeseries[0].samples.iter().map(|s| s.timestamp).collect::<Vec<_>>()
        };
        assert!(ts(&a).last() < ts(&c).first());
        assert!(split(&test_body(1, 1).0).is_none());
    }
}
