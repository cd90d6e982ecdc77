//! "Exactly one of": a sum type written as one key among several (`crash: web` beside `at:`).
//!
//! Each such type is read through a private raw twin that has every key optional (so unknown
//! fields and wrong types still fail where serde-saphyr finds them, with its line and column),
//! then converted. A conversion error names the key it is about; serde's custom errors carry
//! no position, so the position is kept here for [`crate::load`](mod@crate::load) to report, and a key given
//! beside another is an issue kept here while reading goes on (see [`exactly_one`]).

use std::cell::{Cell, RefCell};

use serde::de;
use serde_saphyr::Location;

use crate::load::Issue;

thread_local! {
    static ERROR_AT: Cell<Option<Location>> = const { Cell::new(None) };
    static DEFERRED: RefCell<Vec<Issue>> = const { RefCell::new(Vec::new()) };
}

/// Starts reading a file: forgets what an earlier one left.
pub(crate) fn reset() {
    ERROR_AT.take();
    DEFERRED.take();
}

/// The position of the last one-of error raised on this thread, if any; clears it.
pub(crate) fn take_error_location() -> Option<Location> {
    ERROR_AT.take()
}

/// The issues of keys given beside another (see [`exactly_one`]); clears them.
pub(crate) fn take_deferred() -> Vec<Issue> {
    DEFERRED.take()
}

/// The one present value of `present` (each with where its key's value is written).
///
/// None present: an error at `none_at` (or, if unknown, wherever serde-saphyr places an error
/// in this value). Several: an issue at the last one in the file, kept for [`crate::load`](mod@crate::load), and
/// the first one is read on, as a compiler recovers, so that validation still reports the
/// file's other problems; the file is refused either way. `message` gets the count.
pub(crate) fn exactly_one<T, E: de::Error, const N: usize>(
    present: [Option<(Location, T)>; N],
    none_at: Option<Location>,
    message: impl Fn(usize) -> String,
) -> Result<T, E> {
    let mut given: Vec<(Location, T)> = present.into_iter().flatten().collect();
    given.sort_by_key(|(at, _)| (at.line(), at.column()));
    let count = given.len();
    if let Some((last, _)) = given.last().filter(|_| count > 1) {
        let issue = Issue::at(Some(*last).filter(|l| *l != Location::UNKNOWN), "", message(count));
        DEFERRED.with_borrow_mut(|d| {
            if !d.contains(&issue) {
                d.push(issue)
            }
        });
    }
    if !given.is_empty() {
        return Ok(given.swap_remove(0).1);
    }
    ERROR_AT.set(none_at.filter(|l| *l != Location::UNKNOWN));
    Err(E::custom(message(0)))
}

/// A key's value, if given, as `variant` of the sum type, with where it is written.
pub(crate) fn given<T, U>(value: Option<serde_saphyr::Spanned<T>>, variant: impl FnOnce(T) -> U) -> Option<(Location, U)> {
    value.map(|v| (v.referenced, variant(v.value)))
}

/// A reference's value, if given, as `variant` of the sum type (a reference keeps its position).
pub(crate) fn given_ref<U>(value: Option<crate::Ref>, variant: impl FnOnce(crate::Ref) -> U) -> Option<(Location, U)> {
    value.map(|v| (v.referenced, variant(v)))
}

/// Implements `Deserialize` for a one-of type by reading its raw twin and converting it with
/// the twin's `fn parse<E: serde::de::Error>(self) -> Result<$ty, E>`.
macro_rules! deserialize_through {
    ($ty:ty, $raw:ty) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$raw as serde::Deserialize>::deserialize(d)?.parse()
            }
        }
    };
}
pub(crate) use deserialize_through;

/// A conversion error about the key whose value is written at `at` (kept for
/// [`crate::load`](mod@crate::load), as [`exactly_one`] keeps its own).
pub(crate) fn error_at<E: de::Error>(at: Location, message: impl std::fmt::Display) -> E {
    ERROR_AT.set(Some(at).filter(|l| *l != Location::UNKNOWN));
    E::custom(message)
}
