//! Checks of `cloudfront:`: each distribution's edge AZ, origins, allow-list and origin
//! settings (AWS's ranges, "Origin settings",
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html>).

use super::{Checker, did_you_mean, parse_cidr};
use crate::units::Dur;

/// The origin settings AWS bounds, in whole seconds: (field, least, most).
const SECONDS_RANGES: [(&str, u64, u64); 2] = [("connection_timeout", 1, 10), ("keep_alive_timeout", 1, 60)];

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
            let settings: [(&str, Option<Dur>); 2] = [("connection_timeout", cf.connection_timeout), ("keep_alive_timeout", cf.keep_alive_timeout)];
            for ((field, value), (_, least, most)) in settings.into_iter().zip(SECONDS_RANGES) {
                let Some(value) = value else { continue };
                let nanos = value.nanos();
                if nanos % 1_000_000_000 != 0 || !(least..=most).contains(&(nanos / 1_000_000_000)) {
                    self.push(None, format!("{path}.{field}"), format!("AWS takes whole seconds from {least}s to {most}s"), None);
                }
            }
            if cf.connection_attempts.is_some_and(|n| !(1..=3).contains(&n)) {
                self.push(None, format!("{path}.connection_attempts"), "AWS allows 1, 2 or 3 attempts".into(), None);
            }
            if cf.response_timeout.is_some_and(|t| t.nanos() == 0) {
                self.push(None, format!("{path}.response_timeout"), "a response timeout must be above 0".into(), None);
            }
        }
    }
}
