//! The number line behind numeric, date and date-time columns, and sets of values on it.
//!
//! Every value such a column can write lies on an *axis*: whole numbers (integers, days,
//! minutes, or multiples of `10^-d` for a float column with `decimals = d`), or the reals (a
//! float column without `decimals`). Rules reason on axis values (interval reasoning over
//! bins), decoding draws axis values, and both use the same [`Interval`] sets, so what the
//! reasoning says is possible is exactly what decoding can write.

use std::cmp::Ordering;

/// The values a column can write, as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Whole numbers: an integer column's values.
    Integer,
    /// `k * 10^-d` for whole `k` (a float column with `decimals = d`); the axis value is `k`.
    Decimal(u32),
    /// Real numbers (a float column without `decimals`).
    Real,
    /// Calendar days, as chrono's days from the common era.
    Day,
    /// Minutes since 1970-01-01T00:00 (date-time columns are modelled to the minute).
    Minute,
}

impl Axis {
    /// Whether the axis is a grid of whole numbers (everything but [`Axis::Real`]).
    pub fn is_grid(self) -> bool {
        !matches!(self, Axis::Real)
    }

    /// Size of one axis step in linear units (the units densities are built on: the
    /// column's own numbers, days, or minutes).
    pub fn step(self) -> f64 {
        match self {
            Axis::Decimal(d) => 10f64.powi(-(d as i32)),
            _ => 1.0,
        }
    }

    /// Linear units of an axis value.
    pub fn to_linear(self, v: f64) -> f64 {
        match self {
            Axis::Decimal(d) => v / 10f64.powi(d as i32),
            _ => v,
        }
    }

    /// Axis value of linear units (not rounded).
    pub fn from_linear(self, x: f64) -> f64 {
        match self {
            Axis::Decimal(d) => x * 10f64.powi(d as i32),
            _ => x,
        }
    }

    /// Whether two columns' values can be compared with each other in a rule: the same axis
    /// (so that interval reasoning on one grid is exact).
    pub fn comparable(self, other: Axis) -> bool {
        self == other
    }
}

/// An interval of axis values. On a grid axis, intervals are kept closed with whole-number
/// ends (see [`Interval::normalized`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    pub lo_open: bool,
    pub hi_open: bool,
}

impl Interval {
    pub fn closed(lo: f64, hi: f64) -> Self {
        Interval {
            lo,
            hi,
            lo_open: false,
            hi_open: false,
        }
    }

    pub fn point(v: f64) -> Self {
        Interval::closed(v, v)
    }

    pub fn everything() -> Self {
        Interval {
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            lo_open: true,
            hi_open: true,
        }
    }

    /// On a grid: the closed whole-number interval of the same points (possibly empty).
    pub fn normalized(self, grid: bool) -> Self {
        if !grid {
            return self;
        }
        let mut lo = self.lo.ceil();
        if self.lo_open && lo == self.lo {
            lo += 1.0;
        }
        let mut hi = self.hi.floor();
        if self.hi_open && hi == self.hi {
            hi -= 1.0;
        }
        // Infinite ends stay open: no value is infinite.
        Interval {
            lo,
            hi,
            lo_open: lo.is_infinite(),
            hi_open: hi.is_infinite(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
            || (self.lo == self.hi && (self.lo_open || self.hi_open || self.lo.is_infinite()))
    }

    pub fn contains(&self, v: f64) -> bool {
        let above = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        let below = if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        };
        above && below
    }

    pub fn intersect(&self, o: &Interval) -> Interval {
        let (lo, lo_open) = match self.lo.partial_cmp(&o.lo) {
            Some(Ordering::Greater) => (self.lo, self.lo_open),
            Some(Ordering::Less) => (o.lo, o.lo_open),
            _ => (self.lo, self.lo_open || o.lo_open),
        };
        let (hi, hi_open) = match self.hi.partial_cmp(&o.hi) {
            Some(Ordering::Less) => (self.hi, self.hi_open),
            Some(Ordering::Greater) => (o.hi, o.hi_open),
            _ => (self.hi, self.hi_open || o.hi_open),
        };
        Interval {
            lo,
            hi,
            lo_open,
            hi_open,
        }
    }
}

/// A union of disjoint intervals in increasing order, on a grid axis or the reals.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalSet {
    pub grid: bool,
    pub parts: Vec<Interval>,
}

impl IntervalSet {
    pub fn empty(grid: bool) -> Self {
        IntervalSet {
            grid,
            parts: Vec::new(),
        }
    }

    pub fn all(grid: bool) -> Self {
        IntervalSet::from_parts(grid, vec![Interval::everything()])
    }

    /// The union of `parts` (in any order, possibly overlapping).
    pub fn from_parts(grid: bool, parts: Vec<Interval>) -> Self {
        let mut p: Vec<Interval> = parts
            .into_iter()
            .map(|i| i.normalized(grid))
            .filter(|i| !i.is_empty())
            .collect();
        p.sort_by(|a, b| {
            a.lo.total_cmp(&b.lo)
                .then_with(|| a.lo_open.cmp(&b.lo_open))
        });
        let mut out: Vec<Interval> = Vec::with_capacity(p.len());
        for i in p {
            if let Some(last) = out.last_mut() {
                // Touching or overlapping: on a grid, neighbours one step apart merge too.
                let touches = if grid {
                    i.lo <= last.hi + 1.0
                } else {
                    i.lo < last.hi || (i.lo == last.hi && !(i.lo_open && last.hi_open))
                };
                if touches {
                    match i.hi.partial_cmp(&last.hi) {
                        Some(Ordering::Greater) => {
                            last.hi = i.hi;
                            last.hi_open = i.hi_open;
                        }
                        Some(Ordering::Equal) => last.hi_open = last.hi_open && i.hi_open,
                        _ => {}
                    }
                    continue;
                }
            }
            out.push(i);
        }
        IntervalSet { grid, parts: out }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn contains(&self, v: f64) -> bool {
        self.parts.iter().any(|i| i.contains(v))
    }

    pub fn intersect(&self, o: &IntervalSet) -> IntervalSet {
        let mut parts = Vec::new();
        for a in &self.parts {
            for b in &o.parts {
                let c = a.intersect(b).normalized(self.grid);
                if !c.is_empty() {
                    parts.push(c);
                }
            }
        }
        IntervalSet::from_parts(self.grid, parts)
    }

    pub fn intersect_interval(&self, i: &Interval) -> IntervalSet {
        self.intersect(&IntervalSet::from_parts(self.grid, vec![*i]))
    }

    /// Everything on the axis not in the set.
    pub fn complement(&self) -> IntervalSet {
        let mut parts = Vec::new();
        let mut lo = f64::NEG_INFINITY;
        let mut lo_open = true;
        for i in &self.parts {
            let gap = if self.grid {
                Interval::closed(lo, i.lo - 1.0)
            } else {
                Interval {
                    lo,
                    hi: i.lo,
                    lo_open,
                    hi_open: !i.lo_open,
                }
            };
            parts.push(gap);
            if self.grid {
                lo = i.hi + 1.0;
                lo_open = false;
            } else {
                lo = i.hi;
                lo_open = !i.hi_open;
            }
        }
        parts.push(Interval {
            lo,
            hi: f64::INFINITY,
            lo_open,
            hi_open: true,
        });
        // Infinite ends stay open: no value is infinite.
        for p in &mut parts {
            if p.lo == f64::NEG_INFINITY {
                p.lo_open = true;
            }
            if p.hi == f64::INFINITY {
                p.hi_open = true;
            }
        }
        IntervalSet::from_parts(self.grid, parts)
    }

    /// Whether every value of `o` lies in the set.
    pub fn covers(&self, o: &IntervalSet) -> bool {
        o.intersect(&self.complement()).is_empty()
    }

    /// The smallest interval holding the set (None if empty).
    pub fn hull(&self) -> Option<Interval> {
        let first = self.parts.first()?;
        let last = self.parts.last()?;
        Some(Interval {
            lo: first.lo,
            lo_open: first.lo_open,
            hi: last.hi,
            hi_open: last.hi_open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sets_normalise_merge_and_complement() {
        let s = IntervalSet::from_parts(
            true,
            vec![
                Interval::closed(5.0, 7.0),
                Interval::closed(1.0, 3.0),
                Interval::closed(4.0, 4.0),
                Interval {
                    lo: 9.0,
                    hi: 10.0,
                    lo_open: true,
                    hi_open: true,
                },
            ],
        );
        // 1..=7 merge (4 joins 3 and 5); (9, 10) holds no whole number.
        assert_eq!(s.parts, vec![Interval::closed(1.0, 7.0)]);
        let c = s.complement();
        assert!(c.contains(0.0) && c.contains(8.0) && !c.contains(1.0) && !c.contains(7.0));
        assert!(s.covers(&IntervalSet::from_parts(
            true,
            vec![Interval::closed(2.0, 6.0)]
        )));
        assert!(c.complement() == s);
    }

    #[test]
    fn real_sets_keep_open_ends() {
        let a = IntervalSet::from_parts(
            false,
            vec![Interval {
                lo: 0.0,
                hi: 1.0,
                lo_open: false,
                hi_open: true,
            }],
        );
        let c = a.complement();
        assert!(c.contains(1.0) && !c.contains(0.0) && c.contains(-1e-300));
        // [0, 1) and [1, 2] merge into [0, 2].
        let b = IntervalSet::from_parts(false, vec![a.parts[0], Interval::closed(1.0, 2.0)]);
        assert_eq!(b.parts, vec![Interval::closed(0.0, 2.0)]);
        let p = IntervalSet::from_parts(false, vec![Interval::point(1.0)]);
        assert!(a.intersect(&p).is_empty());
        assert_eq!(p.complement().parts.len(), 2);
    }
}
