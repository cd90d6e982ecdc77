//! Import of an API's routes from a Swagger 2.0 or OpenAPI 3 file (JSON or YAML) with
//! `x-amazon-apigateway-integration`, as API Gateway imports them: each path and method with an
//! `http_proxy` integration through a VPC link becomes a route; `connectionId` may name a stage
//! variable (`${stageVariables.vpcLinkId}`), resolved with the API's `stage_variables` and then
//! `vpc_links` (link id -> load balancer).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{ApiGatewaySpec, ApiRouteSpec, RouteIntegration};

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    swagger: Option<String>,
    #[serde(default)]
    openapi: Option<String>,
    #[serde(default)]
    paths: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// A path item's entry: an operation, or something else (`parameters`, `summary`, ...).
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Operation(Operation),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Operation {
    #[serde(rename = "x-amazon-apigateway-integration")]
    integration: Option<Integration>,
}

#[derive(Deserialize)]
struct Integration {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    uri: Option<String>,
    #[serde(rename = "connectionType", default)]
    connection_type: Option<String>,
    #[serde(rename = "connectionId", default)]
    connection_id: Option<String>,
    #[serde(rename = "requestParameters", default)]
    request_parameters: BTreeMap<String, String>,
}

/// Substitutes `${stageVariables.name}` with the API's stage variables.
fn stage_vars(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = text.to_string();
    while let Some(start) = out.find("${stageVariables.") {
        let end = out[start..].find('}').ok_or_else(|| format!("`{text}`: unclosed `${{`"))? + start;
        let name = &out[start + "${stageVariables.".len()..end];
        let value = vars.get(name).ok_or_else(|| format!("`{text}` uses stage variable `{name}`, which `stage_variables` does not set"))?;
        out.replace_range(start..=end, value);
    }
    Ok(out)
}

/// The routes `text` describes, keyed like the scenario's (`GET /foo/{proxy+}`).
pub(crate) fn import(text: &str, api: &ApiGatewaySpec) -> Result<Vec<(String, ApiRouteSpec)>, String> {
    let doc: Doc = serde_saphyr::from_str(text).map_err(|e| format!("not a Swagger/OpenAPI document: {e}"))?;
    if doc.swagger.is_none() && doc.openapi.is_none() {
        return Err("neither `swagger` nor `openapi` is set: not a Swagger 2.0 or OpenAPI 3 document".into());
    }
    let mut routes = Vec::new();
    for (path, item) in &doc.paths {
        for (method, entry) in item {
            let method = match method.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_string(),
                m @ ("get" | "put" | "post" | "delete" | "patch" | "head" | "options") => m.to_ascii_uppercase(),
                _ => continue,
            };
            let Entry::Operation(op) = entry else { continue };
            let key = format!("{method} {path}");
            let Some(i) = &op.integration else {
                return Err(format!("`{key}` has no x-amazon-apigateway-integration"));
            };
            if !i.kind.eq_ignore_ascii_case("http_proxy") && !i.kind.eq_ignore_ascii_case("http") {
                return Err(format!("`{key}`: integration type `{}` is not modelled (http_proxy is)", i.kind));
            }
            if !i.connection_type.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("VPC_LINK")) {
                return Err(format!("`{key}`: only private integrations (connectionType VPC_LINK) are modelled"));
            }
            let id =
                stage_vars(i.connection_id.as_deref().ok_or_else(|| format!("`{key}`: a VPC_LINK integration needs a connectionId"))?, &api.stage_variables)
                    .map_err(|e| format!("`{key}`: {e}"))?;
            let lb = api.vpc_links.get(&id).ok_or_else(|| format!("`{key}`: connectionId `{id}` is not one of `vpc_links`"))?;
            let mut params = BTreeMap::new();
            for (to, from) in &i.request_parameters {
                let (Some(to), Some(from)) = (to.strip_prefix("integration.request.path."), from.strip_prefix("method.request.path.")) else {
                    return Err(format!("`{key}`: only path parameter mappings are modelled, not `{to}: {from}`"));
                };
                params.insert(to.to_string(), from.to_string());
            }
            let route = ApiRouteSpec {
                integration: RouteIntegration::LoadBalancer(lb.clone()),
                query: BTreeMap::new(),
                jwt: None,
                throttle: None,
                uri: i.uri.clone(),
                path_parameters: params,
                request_parameters: BTreeMap::new(),
            };
            routes.push((key, route));
        }
    }
    if routes.is_empty() {
        return Err("no path with an integration".into());
    }
    Ok(routes)
}
