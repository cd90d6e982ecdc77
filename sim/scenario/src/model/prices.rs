//! `prices:`: what each AWS component and each byte costs, per Region.
//!
//! Every price is optional in the file: unset, it takes AWS's public on-demand price in
//! us-east-1 (the page each comes from is in its description), and the report lists which
//! prices took their default. `regions:` overrides any of them for one Region.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// Declares the prices once: the file's optional fields, the per-Region overrides, the
/// resolved table, and each price's default, name and unit.
macro_rules! prices {
    ($( $(#[doc = $doc:literal])* $name:ident = $default:literal, $unit:literal; )*) => {
        /// Prices in US dollars. Unset, each takes AWS's public on-demand price in us-east-1
        /// (see each price for its page); the report says which did. Runs shorter than an
        /// hour are priced pro rata (AWS bills a started hour of a load balancer or a NAT
        /// gateway in full); no free tier or volume tier is applied.
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct Prices {
            $( $(#[doc = $doc])* #[serde(default)] pub $name: Option<f64>, )*
            /// Whether ALB-to-target traffic across AZs is free (default true: AWS's Elastic
            /// Load Balancing FAQ says regional data transfer between an ALB and its targets
            /// is not charged).
            #[serde(default)]
            pub alb_to_target_free: Option<bool>,
            /// Prices for one Region (by its name in `regions:`) that differ from the ones
            /// above: any of the same keys.
            #[serde(default)]
            pub regions: BTreeMap<String, RegionPrices>,
        }

        /// One Region's prices where they differ from the file's (any of `prices:` keys).
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RegionPrices {
            $( $(#[doc = $doc])* #[serde(default)] pub $name: Option<f64>, )*
        }

        /// The prices that apply in one Region, every one resolved.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct PriceTable {
            $( pub $name: f64, )*
            pub alb_to_target_free: bool,
        }

        impl PriceTable {
            /// The price named `key` (a key of [`Prices::DEFAULTS`]).
            pub fn get(&self, key: &str) -> Option<f64> {
                match key {
                    $( stringify!($name) => Some(self.$name), )*
                    _ => None,
                }
            }
        }

        impl Prices {
            /// Every price: its key, AWS's default, and its unit.
            pub const DEFAULTS: &'static [(&'static str, f64, &'static str)] = &[$( (stringify!($name), $default, $unit), )*];

            /// The prices that apply in `region`: its own, then the file's, then AWS's.
            pub fn table(&self, region: &str) -> PriceTable {
                let own = self.regions.get(region);
                PriceTable {
                    $( $name: own.and_then(|r| r.$name).or(self.$name).unwrap_or($default), )*
                    alb_to_target_free: self.alb_to_target_free.unwrap_or(true),
                }
            }

            /// The keys of the prices the file leaves to AWS's default (in every Region).
            pub fn defaulted(&self) -> Vec<&'static str> {
                let mut keys = Vec::new();
                $(
                    if self.$name.is_none() && self.regions.values().all(|r| r.$name.is_none()) {
                        keys.push(stringify!($name));
                    }
                )*
                keys
            }
        }
    };
}

prices! {
    /// Per GB between AZs of a Region, charged at each end (default 0.01, so 0.02 for each
    /// GB that crosses; <https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer_within_the_same_AWS_Region>).
    cross_az_per_gb = 0.01, "GB";
    /// Per GB between Regions, charged to the sender (default 0.02;
    /// <https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer>).
    cross_region_per_gb = 0.02, "GB";
    /// Per GB out of AWS to the internet or an on-premises site (default 0.09, the first
    /// 10 TB a month; ingress is free; <https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer>).
    internet_egress_per_gb = 0.09, "GB";
    /// A NAT gateway's processing, per GB in either direction (default 0.045;
    /// <https://aws.amazon.com/vpc/pricing/>).
    nat_per_gb = 0.045, "GB";
    /// A NAT gateway's hour (default 0.045; <https://aws.amazon.com/vpc/pricing/>).
    nat_per_hour = 0.045, "hour";
    /// An HTTP API's requests, per million (default 1.00, the first 300 million a month;
    /// metered in 512 KB increments; <https://aws.amazon.com/api-gateway/pricing/>).
    http_api_per_million = 1.00, "million requests";
    /// A REST API's requests, per million (default 3.50, the first 333 million a month;
    /// <https://aws.amazon.com/api-gateway/pricing/>).
    rest_api_per_million = 3.50, "million requests";
    /// An Application Load Balancer's hour (default 0.0225;
    /// <https://aws.amazon.com/elasticloadbalancing/pricing/>).
    alb_per_hour = 0.0225, "hour";
    /// An ALB's Load Balancer Capacity Unit hour (default 0.008): an hour's LCUs are the
    /// largest of new connections a second / 25, active connections / 3,000, GB processed
    /// an hour, and rule evaluations beyond 10 a request a second / 1,000
    /// (<https://aws.amazon.com/elasticloadbalancing/pricing/>).
    alb_per_lcu_hour = 0.008, "LCU-hour";
    /// A Network Load Balancer's hour (default 0.0225;
    /// <https://aws.amazon.com/elasticloadbalancing/pricing/>).
    nlb_per_hour = 0.0225, "hour";
    /// An NLB's capacity unit hour for TCP (default 0.006): the largest of new flows a second
    /// / 800, active flows / 100,000, and GB processed an hour
    /// (<https://aws.amazon.com/elasticloadbalancing/pricing/>).
    nlb_per_nlcu_hour = 0.006, "NLCU-hour";
    /// Cloud Map `DiscoverInstances` calls, per million (default 1.00;
    /// <https://aws.amazon.com/cloud-map/pricing/>).
    cloud_map_per_million_discoveries = 1.00, "million calls";
    /// Lambda requests, per million (default 0.20; <https://aws.amazon.com/lambda/pricing/>).
    lambda_per_million_requests = 0.20, "million requests";
    /// Lambda duration on x86, per GB-second of configured memory, each request's duration
    /// rounded up to the millisecond (default 0.0000166667, the first tier;
    /// <https://aws.amazon.com/lambda/pricing/>).
    lambda_per_gb_second = 0.0000166667, "GB-second";
    /// CloudFront's HTTPS requests, per 10,000 (default 0.01, United States;
    /// <https://aws.amazon.com/cloudfront/pricing/>).
    cloudfront_per_10k_requests = 0.01, "10,000 requests";
    /// CloudFront's transfer out to viewers, per GB (default 0.085, United States, the first
    /// 10 TB a month; <https://aws.amazon.com/cloudfront/pricing/>).
    cloudfront_egress_per_gb = 0.085, "GB";
    /// CloudFront's transfer from an edge to an origin (request bodies), per GB (default
    /// 0.02, United States; origin fetches from AWS origins are free;
    /// <https://aws.amazon.com/cloudfront/pricing/>).
    cloudfront_to_origin_per_gb = 0.02, "GB";
}
