//! How a call through the library ends in the request history: the library's result, mapped
//! to a typed [`Failure`] (the reasons the history has always shown).

use affinity_client::Error;
use azsim_kernel::{Failure, Outcome};

use super::transport::{Answer, Refused};

/// What a call through the library returns.
pub(crate) type CallResult = Result<http::Response<()>, Error<Refused>>;

/// The history's outcome of a call that ended with `result`; `last` is how its last attempt was
/// answered (`None`: it was not, it timed out), which the budget's error does not say.
pub(crate) fn of(result: CallResult, last: Option<Answer>) -> Outcome {
    let failure = match result {
        Ok(r) if r.status().is_server_error() => Failure::Status(r.status().as_u16()),
        Ok(_) => return Outcome::Ok,
        Err(Error::Timeout { .. }) => Failure::Timeout,
        Err(Error::NoEndpoints) => Failure::Other("NoEndpoints".into()),
        Err(Error::CircuitOpen) => Failure::Other("CircuitOpen".into()),
        Err(Error::Inner { error: Refused, .. }) => Failure::Refused,
        Err(Error::BudgetExhausted { status, .. }) => {
            let last = match (status, last) {
                (Some(s), _) => Failure::Status(s),
                (None, Some(Answer::Refused)) => Failure::Refused,
                (None, Some(Answer::Status(s))) => Failure::Status(s),
                (None, None) => Failure::Timeout,
            };
            Failure::RetryBudgetExhausted(Box::new(last))
        }
    };
    Outcome::Failed(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> CallResult {
        Ok(http::Response::builder().status(s).body(()).expect("a status"))
    }

    #[test]
    fn every_way_a_call_ends_has_its_reason() {
        use Failure::{Other, RetryBudgetExhausted, Status, Timeout};
        let spent = |status| Err(Error::BudgetExhausted { attempts: 2, status });
        let cases: Vec<(CallResult, Option<Answer>, Outcome)> = vec![
            (status(200), None, Outcome::Ok),
            (status(404), None, Outcome::Ok),
            (status(503), None, Outcome::Failed(Status(503))),
            (Err(Error::Timeout { attempts: 3 }), None, Outcome::Failed(Timeout)),
            (Err(Error::NoEndpoints), None, Outcome::Failed(Other("NoEndpoints".into()))),
            (Err(Error::CircuitOpen), None, Outcome::Failed(Other("CircuitOpen".into()))),
            (Err(Error::Inner { attempts: 3, error: Refused }), Some(Answer::Refused), Outcome::Failed(Failure::Refused)),
            (spent(Some(503)), Some(Answer::Status(503)), Outcome::Failed(RetryBudgetExhausted(Box::new(Status(503))))),
            (spent(None), Some(Answer::Refused), Outcome::Failed(RetryBudgetExhausted(Box::new(Failure::Refused)))),
            (spent(None), None, Outcome::Failed(RetryBudgetExhausted(Box::new(Timeout)))),
        ];
        for (result, last, expected) in cases {
            let shown = format!("{result:?} / {last:?}");
            assert_eq!(of(result, last), expected, "{shown}");
        }
    }
}
