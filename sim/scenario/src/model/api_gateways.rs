//! `api_gateways:`: API Gateway APIs, their routes and integrations.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given_ref};
use crate::units::{DistSpec, Dur};

/// An API Gateway API: stages, routes in AWS's order, a JWT authorizer, throttling, CORS, and
/// private integrations through a VPC link. AWS documents HTTP APIs at
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api.html>, their routes at
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html>
/// and their integrations at
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations.html>.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiGatewaySpec {
    /// `http` (default) or `rest`: REST answers 403 for unknown paths and 504 on integration
    /// timeouts, and its timeout is 29 s.
    #[serde(default)]
    pub kind: ApiKindSpec,
    /// Stages: `$default` (served at the root) and named ones (a path prefix). Default
    /// `[$default]`.
    #[serde(default = "ApiGatewaySpec::default_stages")]
    pub stages: Vec<String>,
    /// Strip a named stage from the path the backend sees (parameter mapping
    /// `overwrite:path`); by default it reaches the backend.
    #[serde(default)]
    pub strip_stage: bool,
    /// The VPC link's subnets, as AZs: one ENI in each. The gateway spreads requests over the
    /// ENIs whose AZ is up (AWS manages them; how it spreads is not documented: ours). Needed
    /// by private integrations (`load_balancer`, `cloud_map`).
    #[serde(default = "ApiGatewaySpec::no_link")]
    #[schemars(with = "Vec<String>")]
    pub vpc_link: Spanned<Vec<String>>,
    /// The API's Region (default: that of the VPC link's subnets).
    #[serde(default)]
    pub region: Option<String>,
    /// Route key (`GET /orders/{id}`, `ANY /{proxy+}`, `$default`) -> what serves it.
    #[serde(default)]
    pub routes: BTreeMap<String, ApiRouteSpec>,
    /// A Swagger 2.0 or OpenAPI 3 file (relative to the scenario file) whose paths with
    /// `x-amazon-apigateway-integration` (`http_proxy` through a VPC link) become routes.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub openapi: Option<Spanned<String>>,
    /// Stage variables (`${stageVariables.name}` in an imported `connectionId`).
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    /// VPC link ids an imported `connectionId` may name -> the load balancer each targets.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub vpc_links: BTreeMap<String, Ref>,
    /// 50 ms to 30 s; default 30 s (REST: 29 s).
    #[serde(default)]
    pub integration_timeout: Option<Dur>,
    /// What a timed-out integration answers: AWS's sources conflict (503 reported for HTTP
    /// APIs, 504 in the knowledge center). Default 503 (REST: 504).
    #[serde(default)]
    pub timeout_status: Option<u16>,
    /// The account's bucket in this Region (default 10,000/s, burst 5,000). It is one bucket,
    /// shared by every API of the account in the Region, so they must all give the same.
    /// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html>
    #[serde(default)]
    pub account_throttle: Option<ThrottleSpec>,
    /// The stage's default route throttle (`DefaultRouteSettings`).
    #[serde(default)]
    pub stage_throttle: Option<ThrottleSpec>,
    /// The JWT authorizer of routes with `jwt`.
    #[serde(default)]
    pub jwt: Option<JwtSpec>,
    /// CORS: the gateway answers preflight `OPTIONS` itself.
    #[serde(default)]
    pub cors: Option<CorsSpec>,
    /// How long a Cloud Map integration's `DiscoverInstances` answer is kept (AWS caches it
    /// and does not say for how long; default 30 s, ours).
    #[serde(default = "ApiGatewaySpec::default_discovery_cache")]
    pub discovery_cache: Dur,
    /// The gateway's own time per request (default 0).
    #[serde(default)]
    pub processing: DistSpec,
}

impl ApiGatewaySpec {
    fn no_link() -> Spanned<Vec<String>> {
        Spanned::new(Vec::new(), serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
    }
    fn default_stages() -> Vec<String> {
        vec!["$default".into()]
    }
    fn default_discovery_cache() -> Dur {
        Dur(30_000_000_000)
    }
}

/// HTTP API or REST API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKindSpec {
    #[default]
    Http,
    Rest,
}

/// A route: what serves it (exactly one integration) and how.
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiRouteSpec {
    #[serde(flatten)]
    pub integration: RouteIntegration,
    /// `DiscoverInstances` query parameters of a Cloud Map integration.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Guard the route with the API's JWT authorizer, requiring one of these scopes (an empty
    /// list: any valid token).
    #[serde(default)]
    pub jwt: Option<Vec<String>>,
    /// The route's throttle (`RouteSettings`).
    #[serde(default)]
    pub throttle: Option<ThrottleSpec>,
    /// An `http_proxy` integration URI (`http://host/path/{proxy}`): the backend gets its host
    /// as `Host` and its path, `{name}` filled from `path_parameters`. Without it, the
    /// request's own path and host go through.
    #[serde(default)]
    pub uri: Option<String>,
    /// `{name}` of `uri` -> the route's path parameter that fills it.
    #[serde(default)]
    pub path_parameters: BTreeMap<String, String>,
    /// HTTP API request parameter mappings, applied in key order:
    /// `append|overwrite|remove:header.<name>`, `append|overwrite|remove:querystring.<name>`,
    /// `overwrite:path` -> a value: static text, `$request.header.<name>`,
    /// `$request.querystring.<name>`, `$request.path.<name>`, `$request.path`,
    /// `$context.requestId`, or text with `${...}` of those. Reserved headers (`authorization`,
    /// `x-forwarded-*`, `x-amz-*`, ...) cannot be mapped.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub request_parameters: BTreeMap<String, Spanned<String>>,
}

/// What serves a route: exactly one of these keys.
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteIntegration {
    /// A private integration with this ALB's or NLB's listener.
    LoadBalancer(#[schemars(with = "String")] Ref),
    /// A private integration with this service's Cloud Map service (it must register).
    CloudMap(#[schemars(with = "String")] Ref),
    /// A Lambda integration: this service's instances (give it a `cold_start`) are the
    /// function's execution environments.
    Lambda(#[schemars(with = "String")] Ref),
    /// An HTTP proxy integration to a public endpoint: this service's instances (with `uri`,
    /// the `Host` and path they get).
    Http(#[schemars(with = "String")] Ref),
}

impl RouteIntegration {
    /// Whether it goes through the API's VPC link.
    pub fn is_private(&self) -> bool {
        matches!(self, RouteIntegration::LoadBalancer(_) | RouteIntegration::CloudMap(_))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiRouteSpecRaw {
    #[serde(default)]
    load_balancer: Option<Ref>,
    #[serde(default)]
    cloud_map: Option<Ref>,
    #[serde(default)]
    lambda: Option<Ref>,
    #[serde(default)]
    http: Option<Ref>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    jwt: Option<Vec<String>>,
    #[serde(default)]
    throttle: Option<ThrottleSpec>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    path_parameters: BTreeMap<String, String>,
    #[serde(default)]
    request_parameters: BTreeMap<String, Spanned<String>>,
}

impl ApiRouteSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<ApiRouteSpec, E> {
        let integrations = [
            given_ref(self.load_balancer, RouteIntegration::LoadBalancer),
            given_ref(self.cloud_map, RouteIntegration::CloudMap),
            given_ref(self.lambda, RouteIntegration::Lambda),
            given_ref(self.http, RouteIntegration::Http),
        ];
        let integration = exactly_one(integrations, None, |_| "a route needs exactly one of `load_balancer`, `cloud_map`, `lambda` and `http`".into())?;
        Ok(ApiRouteSpec {
            integration,
            query: self.query,
            jwt: self.jwt,
            throttle: self.throttle,
            uri: self.uri,
            path_parameters: self.path_parameters,
            request_parameters: self.request_parameters,
        })
    }
}

deserialize_through!(ApiRouteSpec, ApiRouteSpecRaw);

/// A token bucket.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Requests per second.
    pub rate: f64,
    /// Bucket capacity.
    pub burst: f64,
}

/// A JWT authorizer.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    pub issuer: String,
    pub audience: Vec<String>,
    /// The issuer's JWKS, a file relative to the scenario file.
    #[schemars(with = "String")]
    pub jwks: Spanned<String>,
    /// The JWKS read when the scenario was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub jwks_text: String,
    /// The wall-clock time at the start of the run (token expiry is checked against it), as
    /// seconds since the Unix epoch (default 1767225600: 2026-01-01T00:00:00Z).
    #[serde(default = "JwtSpec::default_epoch")]
    pub start_unix: u64,
}

impl JwtSpec {
    fn default_epoch() -> u64 {
        1_767_225_600
    }
}

/// CORS settings.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsSpec {
    pub allow_origins: Vec<String>,
}
