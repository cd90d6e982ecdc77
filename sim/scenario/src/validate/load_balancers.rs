//! Checks of `load_balancers:`: AZs, kind-specific settings, health checks and listener rules.

use std::collections::BTreeSet;

use serde_saphyr::Location;

use super::{Checker, parse_cidr};
use crate::model::{HealthCheckSpec, LbKind, RuleAction, RuleSpec};

impl Checker<'_> {
    pub(super) fn check_load_balancers(&mut self) {
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        for (name, lb) in &self.f.load_balancers {
            let path = format!("load_balancers.{name}");
            let loc = Some(lb.azs.referenced);
            for az in &lb.azs.value {
                if !azs.contains(az) {
                    let (message, hint) = self.unknown_az(az);
                    self.push(loc, format!("{path}.azs"), message, hint);
                }
            }
            if lb.kind == LbKind::Alb && lb.preserve_client_ip.is_some() {
                let message =
                    "an ALB always puts its own address on the requests it sends (the client's goes in `X-Forwarded-For`): `preserve_client_ip` is for an NLB";
                self.push(loc, format!("{path}.preserve_client_ip"), message.into(), None);
            }
            if lb.kind == LbKind::Alb && lb.azs.value.len() < 2 {
                self.push(loc, format!("{path}.azs"), "an ALB needs nodes in at least two AZs".into(), None);
            }
            if lb.kind == LbKind::Nlb && lb.azs.value.is_empty() {
                self.push(loc, format!("{path}.azs"), "an NLB needs at least one AZ".into(), None);
            }
            if lb.kind == LbKind::Nlb && lb.algorithm.is_some() {
                self.push(loc, format!("{path}.algorithm"), "an NLB picks targets by flow hash; `algorithm` is an ALB setting".into(), None);
            }
            if lb.kind == LbKind::Nlb && lb.tls_handshake_cpu.is_some() {
                self.push(
                    loc,
                    format!("{path}.tls_handshake_cpu"),
                    "TLS through an NLB is not modelled yet: `tls_handshake_cpu` is an ALB setting here".into(),
                    None,
                );
            }
            if lb.kind == LbKind::Alb && lb.dns_client_routing_policy.is_some() {
                self.push(loc, format!("{path}.dns_client_routing_policy"), "`dns_client_routing_policy` is an NLB setting".into(), None);
            }
            if let Some(idle) = lb.idle_timeout {
                let (range, aws) = if lb.kind == LbKind::Alb { (1.0..=4000.0, "1s to 4000s") } else { (60.0..=6000.0, "60s to 6000s") };
                if !range.contains(&(idle.nanos() as f64 / 1e9)) {
                    self.push(loc, format!("{path}.idle_timeout"), format!("AWS allows {aws}"), None);
                }
            }
            if let Some(hc) = &lb.health_check {
                self.check_health_check(hc, lb.kind, loc, &path);
            }
            if !lb.rules.is_empty() && lb.kind == LbKind::Nlb {
                self.push(loc, format!("{path}.rules"), "listener rules are an ALB feature".into(), None);
            }
            let mut priorities = BTreeSet::new();
            for (i, rule) in lb.rules.iter().enumerate() {
                self.check_rule(rule, &services, &mut priorities, &format!("{path}.rules[{i}]"));
            }
            self.check_ref(&lb.targets, &services, &format!("{path}.targets"), "service");
            self.check_dist(&lb.processing, loc, &format!("{path}.processing"));
        }
    }

    fn check_health_check(&mut self, hc: &HealthCheckSpec, kind: LbKind, loc: Option<Location>, path: &str) {
        let secs = |d: Option<crate::units::Dur>| d.map(|d| d.nanos() as f64 / 1e9);
        if secs(hc.interval).is_some_and(|i| !(5.0..=300.0).contains(&i)) {
            self.push(loc, format!("{path}.health_check.interval"), "AWS allows 5s to 300s".into(), None);
        }
        if secs(hc.timeout).is_some_and(|t| !(2.0..=120.0).contains(&t)) {
            self.push(loc, format!("{path}.health_check.timeout"), "AWS allows 2s to 120s".into(), None);
        }
        // Compare the values in effect: AWS's defaults where the scenario is silent.
        let default_timeout = if kind == LbKind::Alb { 5.0 } else { 10.0 };
        let (t, i) = (secs(hc.timeout).unwrap_or(default_timeout), secs(hc.interval).unwrap_or(30.0));
        if t >= i {
            self.push(
                loc,
                format!("{path}.health_check"),
                format!("the timeout ({t}s) must be shorter than the interval ({i}s)"),
                Some("set `timeout` too: the default is 5s for an ALB, 10s for an NLB".into()),
            );
        }
        for (n, v) in [("healthy_threshold", hc.healthy_threshold), ("unhealthy_threshold", hc.unhealthy_threshold)] {
            if v.is_some_and(|v| !(2..=10).contains(&v)) {
                self.push(loc, format!("{path}.health_check.{n}"), "AWS allows 2 to 10".into(), None);
            }
        }
        if let Some(text) = &hc.matcher {
            let highest = if kind == LbKind::Alb { 499 } else { 599 };
            match parse_matcher(text) {
                Err(why) => {
                    self.push(loc, format!("{path}.health_check.matcher"), why, Some("write codes and ranges such as `200`, `200,202` or `200-399`".into()))
                }
                Ok(ranges) if ranges.iter().any(|(low, high)| *low < 200 || *high > highest) => {
                    self.push(loc, format!("{path}.health_check.matcher"), format!("AWS allows codes from 200 to {highest} for this kind"), None);
                }
                Ok(_) => {}
            }
        }
    }

    fn check_rule(&mut self, rule: &RuleSpec, services: &[String], priorities: &mut BTreeSet<u32>, path: &str) {
        let loc = Some(rule.priority.referenced);
        let p = rule.priority.value;
        if !(1..=50_000).contains(&p) {
            self.push(loc, format!("{path}.priority"), "a priority is between 1 and 50000".into(), None);
        }
        if !priorities.insert(p) {
            self.push(loc, format!("{path}.priority"), format!("two rules have priority {p}"), None);
        }
        match &rule.action {
            RuleAction::Forward(forward) => {
                for f in forward {
                    self.check_ref(&f.service, services, &format!("{path}.forward"), "service");
                    if f.weight > 999 {
                        self.push(Some(f.service.referenced), format!("{path}.forward"), "a weight is between 0 and 999".into(), None);
                    }
                }
                if forward.iter().all(|f| f.weight == 0) {
                    self.push(loc, format!("{path}.forward"), "at least one target group needs a weight above 0".into(), None);
                }
            }
            RuleAction::FixedResponse(f) if !matches!(f.status / 100, 2 | 4 | 5) => {
                self.push(loc, format!("{path}.fixed_response.status"), "a fixed response is 2XX, 4XX or 5XX".into(), None);
            }
            RuleAction::Redirect(r) if r.status != 301 && r.status != 302 => {
                self.push(loc, format!("{path}.redirect.status"), "a redirect is 301 or 302".into(), None);
            }
            RuleAction::FixedResponse(_) | RuleAction::Redirect(_) => {}
        }
        for cidr in &rule.source_ip {
            if parse_cidr(cidr).is_none() {
                self.push(loc, format!("{path}.source_ip"), format!("`{cidr}` is not an IPv4 CIDR such as `10.0.0.0/16`"), None);
            }
        }
        if rule.path.iter().any(|p| p.len() > 128) {
            self.push(loc, format!("{path}.path"), "a path pattern has at most 128 characters".into(), None);
        }
    }
}

/// Parses a health check's success codes as AWS writes them (`Matcher.HttpCode`): codes and
/// inclusive ranges, comma-separated (`200`, `200,202`, `200-399`, `200,300-399`). The ranges
/// come back as written; which codes a kind allows is checked by the caller.
pub fn parse_matcher(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let code = |part: &str| part.trim().parse::<u16>().map_err(|_| format!("`{}` is not an HTTP status code", part.trim()));
    text.split(',')
        .map(|part| match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (code(low)?, code(high)?);
                if low > high { Err(format!("the range `{}` runs backwards", part.trim())) } else { Ok((low, high)) }
            }
            None => code(part).map(|c| (c, c)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_matcher;

    #[test]
    fn matchers_parse_as_aws_writes_them() {
        assert_eq!(parse_matcher("200"), Ok(vec![(200, 200)]));
        assert_eq!(parse_matcher("200,202"), Ok(vec![(200, 200), (202, 202)]));
        assert_eq!(parse_matcher("200-399"), Ok(vec![(200, 399)]));
        assert_eq!(parse_matcher("200, 300-399"), Ok(vec![(200, 200), (300, 399)]));
        assert!(parse_matcher("2xx").is_err());
        assert!(parse_matcher("399-200").is_err());
        assert!(parse_matcher("").is_err());
    }
}
