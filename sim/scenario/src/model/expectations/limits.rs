//! Bounds on one figure of an expectation: an upper bound (`max`), a lower one (`min`), both
//! (`between: [lo, hi]`, or `min` and `max`), or an exact figure (`equals`, with a `tolerance`).
//!
//! Read through a raw twin whose keys keep their positions, so that a key given with another it
//! excludes is refused where it is written (see `one_of.rs`). Where a budget's key names a
//! statistic (`p50:`, crossings' `max:`), a bare value is an upper bound, as it always was:
//! [`bare_is_max`].

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::one_of::error_at;
use crate::units::Dur;

/// A figure a bound can be stated in: a duration, a count or a number.
pub trait Figure: Copy + PartialOrd + fmt::Display {
    /// The figure as a number, in its own unit (nanoseconds for a duration).
    fn as_f64(self) -> f64;
}

impl Figure for Dur {
    fn as_f64(self) -> f64 {
        self.nanos() as f64
    }
}

impl Figure for u64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Figure for f64 {
    fn as_f64(self) -> f64 {
        self
    }
}

/// Bounds on a figure, checked at load: one form, its ends in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limits<T> {
    /// `min`, `max`, both, or `between: [min, max]` (inclusive); neither is an empty budget,
    /// which validation refuses.
    Range { min: Option<T>, max: Option<T> },
    /// `equals: value` within `tolerance` either way (in the figure's unit; zero if not given).
    Equals { value: T, tolerance: Option<T> },
}

impl<T: Figure> Limits<T> {
    /// An upper bound: what a bare value means.
    pub fn at_most(max: T) -> Self {
        Limits::Range { min: None, max: Some(max) }
    }

    /// No bound at all (`{}`).
    pub fn is_empty(&self) -> bool {
        matches!(self, Limits::Range { min: None, max: None })
    }

    /// The lowest and highest admitted figure, as numbers (see [`Figure::as_f64`]).
    pub fn ends(&self) -> (Option<f64>, Option<f64>) {
        match *self {
            Limits::Range { min, max } => (min.map(Figure::as_f64), max.map(Figure::as_f64)),
            Limits::Equals { value, tolerance } => {
                let t = tolerance.map_or(0.0, Figure::as_f64);
                (Some(value.as_f64() - t), Some(value.as_f64() + t))
            }
        }
    }

    /// Whether `figure` (a number in the figure's unit) is within the bounds.
    pub fn admits(&self, figure: f64) -> bool {
        let (lo, hi) = self.ends();
        lo.is_none_or(|lo| figure >= lo) && hi.is_none_or(|hi| figure <= hi)
    }

    /// The bounds as a reader states them, each value written by `show`: `<= 20ms`,
    /// `>= 0.87, <= 0.95`, `= 15.2ms ± 1us`.
    pub fn describe(&self, show: impl Fn(T) -> String) -> String {
        match *self {
            Limits::Range { min, max } => {
                [min.map(|m| format!(">= {}", show(m))), max.map(|m| format!("<= {}", show(m)))].into_iter().flatten().collect::<Vec<_>>().join(", ")
            }
            Limits::Equals { value, tolerance: Some(t) } if t.as_f64() > 0.0 => format!("= {} ± {}", show(value), show(t)),
            Limits::Equals { value, .. } => format!("= {}", show(value)),
        }
    }
}

impl<T: Figure> fmt::Display for Limits<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(|v| v.to_string()))
    }
}

/// Bounds on a figure. Give one form: `max` and/or `min`; `between: [lo, hi]`; or `equals`
/// (with an optional `tolerance`, in the figure's unit).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
#[schemars(rename = "Limits_of_{T}")]
struct LimitsRaw<T> {
    /// At least this.
    #[serde(default)]
    #[schemars(with = "Option<T>")]
    min: Option<Spanned<T>>,
    /// At most this.
    #[serde(default)]
    #[schemars(with = "Option<T>")]
    max: Option<Spanned<T>>,
    /// Both ends, inclusive: `[lo, hi]`.
    #[serde(default)]
    #[schemars(with = "Option<[T; 2]>")]
    between: Option<Spanned<[T; 2]>>,
    /// Exactly this (within `tolerance`): a figure the scenario states.
    #[serde(default)]
    #[schemars(with = "Option<T>")]
    equals: Option<Spanned<T>>,
    /// How far from `equals` the figure may be, either way (default: zero).
    #[serde(default)]
    #[schemars(with = "Option<T>")]
    tolerance: Option<Spanned<T>>,
}

impl<T: Figure> LimitsRaw<T> {
    fn parse<E: de::Error>(self) -> Result<Limits<T>, E> {
        let value = |s: &Option<Spanned<T>>| s.as_ref().map(|s| s.value);
        if let Some(t) = &self.tolerance {
            if self.equals.is_none() {
                return Err(error_at(t.referenced, "`tolerance` goes with `equals` (`{ equals: 15.2ms, tolerance: 1us }`)"));
            }
            if t.value.as_f64() < 0.0 {
                return Err(error_at(t.referenced, "a tolerance is not negative"));
            }
        }
        if let Some(e) = &self.equals {
            if self.min.is_some() || self.max.is_some() || self.between.is_some() {
                return Err(error_at(e.referenced, "`equals` states the figure: give it alone (with `tolerance`), not with `min`, `max` or `between`"));
            }
            return Ok(Limits::Equals { value: e.value, tolerance: value(&self.tolerance) });
        }
        let (min, max, at) = match &self.between {
            Some(b) if self.min.is_some() || self.max.is_some() => {
                return Err(error_at(b.referenced, "`between: [lo, hi]` is `min` and `max` together: give one form or the other"));
            }
            Some(b) => (Some(b.value[0]), Some(b.value[1]), Some(b.referenced)),
            None => (value(&self.min), value(&self.max), self.max.as_ref().map(|m| m.referenced)),
        };
        if let (Some(lo), Some(hi), Some(at)) = (min, max, at)
            && lo > hi
        {
            return Err(error_at(at, format!("the low end ({lo}) is above the high end ({hi})")));
        }
        Ok(Limits::Range { min, max })
    }
}

impl<'de, T: Figure + Deserialize<'de>> Deserialize<'de> for Limits<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LimitsRaw::<T>::deserialize(d)?.parse()
    }
}

impl<T: JsonSchema> JsonSchema for Limits<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        LimitsRaw::<T>::schema_name()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        LimitsRaw::<T>::json_schema(g)
    }
}

/// The schema of a bound whose key names a statistic: a bare value (an upper bound) or limits.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "AtMostOrLimits_of_{T}")]
#[allow(dead_code)] // only its schema is used
pub(crate) enum BareOrLimits<T> {
    /// At most this.
    AtMost(T),
    Limits(Limits<T>),
}

/// Reads a bound whose key names a statistic (`p50: 20ms`, `max: 8`): a bare value is an upper
/// bound; a map is [`Limits`] (`p50: { equals: 15.2ms, tolerance: 1us }`).
pub(crate) fn bare_is_max<'de, D: Deserializer<'de>, T: Figure + Deserialize<'de>>(d: D) -> Result<Option<Limits<T>>, D::Error> {
    d.deserialize_any(BareOrMap(PhantomData)).map(Some)
}

struct BareOrMap<T>(PhantomData<T>);

impl<T> BareOrMap<T> {
    /// A bare value as the figure, read first as what it is, then as text (`0` is a duration).
    fn bare<'de, E: de::Error>(read: Result<T, E>, text: String) -> Result<Limits<T>, E>
    where
        T: Figure + Deserialize<'de>,
    {
        read.or_else(|_| T::deserialize(text.into_deserializer())).map(Limits::at_most)
    }
}

impl<'de, T: Figure + Deserialize<'de>> Visitor<'de> for BareOrMap<T> {
    type Value = Limits<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bare upper bound, or a map of `min`, `max`, `between`, `equals` and `tolerance`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Limits::at_most)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::bare(T::deserialize(v.into_deserializer()), v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::bare(T::deserialize(v.into_deserializer()), v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::bare(T::deserialize(v.into_deserializer()), v.to_string())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Limits::<T>::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn each_form_admits_what_it_says() {
        let bare = Limits::at_most(Dur(15_200_000));
        let exact = Limits::Equals { value: Dur(15_200_000), tolerance: Some(Dur(1_000)) };
        let between = Limits::Range { min: Some(Dur(14 * MS)), max: Some(Dur(16 * MS)) };
        let run = |ns: u64| (bare.admits(ns as f64), exact.admits(ns as f64), between.admits(ns as f64));
        assert_eq!(run(8_800_000), (true, false, false), "8.8 ms meets a 15.2 ms budget, not the figure");
        assert_eq!(run(15_200_000), (true, true, true));
        assert_eq!(run(15_201_000), (false, true, true), "within the tolerance");
        assert_eq!(run(15_201_001), (false, false, true));
        assert_eq!((bare.to_string(), exact.to_string(), between.to_string()), ("<= 15.2ms".into(), "= 15.2ms ± 1us".into(), ">= 14ms, <= 16ms".into()));
        assert_eq!(Limits::Equals { value: 8u64, tolerance: None }.to_string(), "= 8");
    }
}
