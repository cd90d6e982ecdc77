//! Checks of `cloudfront:`: each distribution's edge AZ, origins and allow-list.

use super::{Checker, did_you_mean, parse_cidr};

impl Checker<'_> {
    pub(super) fn check_cloudfront(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let records: Vec<String> = self.f.route53.iter().flat_map(|r| r.records.keys().cloned()).collect();
        for (name, cf) in &self.f.cloudfront {
            let path = format!("cloudfront.{name}");
            self.check_ref(&cf.az, &azs, &format!("{path}.az"), "AZ");
            for origin in std::iter::once(&cf.origin).chain(&cf.secondary_origin) {
                if !records.contains(origin) {
                    let hint = did_you_mean(origin, records.iter().map(String::as_str));
                    self.push(Some(cf.az.referenced), format!("{path}.origin"), format!("`{origin}` is not a Route 53 record of this scenario"), hint);
                }
            }
            for a in &cf.allow {
                if parse_cidr(a).is_none() && !self.f.clients.contains_key(a) {
                    self.push(Some(cf.az.referenced), format!("{path}.allow"), format!("`{a}` is neither a CIDR block nor a client"), None);
                }
            }
        }
    }
}
