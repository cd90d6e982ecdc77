//! Checks of `network:`: latency distributions and the AZ and Region pairs they name.

use super::Checker;
use crate::units::DistSpec;

impl Checker<'_> {
    pub(super) fn check_network(&mut self) {
        let n = &self.f.network;
        for (d, p) in [(&n.intra_az, "network.intra_az"), (&n.inter_az, "network.inter_az"), (&n.inter_region, "network.inter_region")] {
            self.check_dist(d, None, p);
            // A link with no delay at all lets a closed loop spin forever at one instant.
            if matches!(d, DistSpec::Fixed(v) if v.nanos() == 0) {
                self.push(None, p.to_string(), "network latency must be above zero".into(), Some("even within an AZ a hop takes tens of microseconds".into()));
            }
        }
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
        for (i, pair) in n.az_pairs.iter().enumerate() {
            self.check_ref(&pair.from, &azs, &format!("network.az_pairs[{i}].from"), "AZ");
            self.check_ref(&pair.to, &azs, &format!("network.az_pairs[{i}].to"), "AZ");
            self.check_dist(&pair.latency, Some(pair.from.referenced), &format!("network.az_pairs[{i}].latency"));
        }
        for (i, pair) in n.region_pairs.iter().enumerate() {
            self.check_ref(&pair.from, &regions, &format!("network.region_pairs[{i}].from"), "Region");
            self.check_ref(&pair.to, &regions, &format!("network.region_pairs[{i}].to"), "Region");
            self.check_dist(&pair.latency, Some(pair.from.referenced), &format!("network.region_pairs[{i}].latency"));
        }
    }
}
