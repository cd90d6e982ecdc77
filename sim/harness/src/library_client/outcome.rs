//! How a call through the library ends in the request history: the library's result, mapped
//! to a typed [`Failure`] (the reasons the history has always shown).

use affinity_client::Error;
use azsim_kernel::{Failure, Outcome};

use super::transport::Refused;

/// What a call through the library returns.
pub(crate) type CallResult = Result<http::Response<()>, Error<Refused, http::Response<()>>>;

/// The history's outcome of a call that ended with `result`. A failed call's error carries its
/// last attempt's answer (a status, a refusal, or none: a timeout) and whether the retry
/// budget stopped it.
pub(crate) fn of(result: CallResult) -> Outcome {
    let error = match result {
        Ok(r) if r.status().is_server_error() => return Outcome::Failed(Failure::Status(r.status().as_u16())),
        Ok(_) => return Outcome::Ok,
        Err(error) => error,
    };
    let last = match &error {
        Error::NoEndpoints => Failure::Other("NoEndpoints".into()),
        Error::CircuitOpen => Failure::Other("CircuitOpen".into()),
        Error::Failed { response, .. } => Failure::Status(response.status().as_u16()),
        Error::Timeout { .. } => Failure::Timeout,
        Error::Transport { .. } => Failure::Refused,
        _ => Failure::Other(error.to_string()),
    };
    Outcome::Failed(if error.is_budget_exhausted() { Failure::RetryBudgetExhausted(Box::new(last)) } else { last })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> http::Response<()> {
        http::Response::builder().status(s).body(()).expect("a status")
    }

    #[test]
    fn every_way_a_call_ends_has_its_reason() {
        use Failure::{Other, RetryBudgetExhausted, Status, Timeout};
        use affinity_client::{FailureKind, GaveUp};
        let failed = |s, gave_up| Err(Error::Failed { attempts: 2, kind: FailureKind::Status(s), gave_up, response: Box::new(status(s)) });
        let refused = |gave_up| Err(Error::Transport { attempts: 2, kind: FailureKind::Connect, gave_up, error: Refused });
        let cases: Vec<(CallResult, Outcome)> = vec![
            (Ok(status(200)), Outcome::Ok),
            (Ok(status(404)), Outcome::Ok),
            (failed(503, GaveUp::Attempts), Outcome::Failed(Status(503))),
            (Err(Error::Timeout { attempts: 3, gave_up: GaveUp::Attempts }), Outcome::Failed(Timeout)),
            (Err(Error::NoEndpoints), Outcome::Failed(Other("NoEndpoints".into()))),
            (Err(Error::CircuitOpen), Outcome::Failed(Other("CircuitOpen".into()))),
            (refused(GaveUp::Attempts), Outcome::Failed(Failure::Refused)),
            (failed(503, GaveUp::Budget), Outcome::Failed(RetryBudgetExhausted(Box::new(Status(503))))),
            (refused(GaveUp::Budget), Outcome::Failed(RetryBudgetExhausted(Box::new(Failure::Refused)))),
            (Err(Error::Timeout { attempts: 1, gave_up: GaveUp::Budget }), Outcome::Failed(RetryBudgetExhausted(Box::new(Timeout)))),
        ];
        for (result, expected) in cases {
            let shown = format!("{result:?}");
            assert_eq!(of(result), expected, "{shown}");
        }
    }
}
