//! Within-bin densities: how decoding spreads a numeric bin's records over its range.
//!
//! A density is built from the fitted model alone (each bin's mass, post-processing): it keeps
//! every bin's mass exactly, is continuous across neighbouring bins, and tapers in the end
//! bins, so a wide top bin does not stretch values to the schema's bound.
//!
//! Construction, on the column's scale (logarithmic for `bin_scale = "log"`): with bin `i` of
//! width `w_i` and mass `m_i`, its average height is `h_i = m_i / w_i`. The density at an
//! inner edge is the mean of the two neighbours' heights. An inner bin is two linear pieces,
//! edge to centre to edge, with the centre height set so the bin keeps its mass; where that
//! would need a negative centre the bin's edge heights are scaled down first (a bin of mass
//! zero pins its edges at zero). An end bin decays exponentially from its inner edge height
//! towards the bound, at the rate that keeps its mass; if its mass is too large for a decay
//! from that height (the data piles up towards the bound), it rises linearly instead.

use rand::Rng;

use crate::schema::value::{Axis, Interval, IntervalSet};
use crate::schema::BinScale;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// Height `a` at the left end, `b` at the right end.
    Linear { a: f64, b: f64 },
    /// `height * exp(-rate * distance from the anchored end)`; anchored at the left end if
    /// `from_left`, else at the right end.
    Exp {
        height: f64,
        rate: f64,
        from_left: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Seg {
    lo: f64,
    hi: f64,
    shape: Shape,
}

impl Seg {
    fn at(&self, t: f64) -> f64 {
        match self.shape {
            Shape::Linear { a, b } => {
                if self.hi > self.lo {
                    a + (b - a) * (t - self.lo) / (self.hi - self.lo)
                } else {
                    a
                }
            }
            Shape::Exp {
                height,
                rate,
                from_left,
            } => {
                let d = if from_left { t - self.lo } else { self.hi - t };
                height * (-rate * d).exp()
            }
        }
    }

    /// Mass over `[x, y]` (inside the segment).
    fn mass(&self, x: f64, y: f64) -> f64 {
        if y <= x {
            return 0.0;
        }
        match self.shape {
            Shape::Linear { .. } => (y - x) * (self.at(x) + self.at(y)) / 2.0,
            Shape::Exp {
                rate, from_left, ..
            } => {
                if rate * (y - x) < 1e-9 {
                    return (y - x) * (self.at(x) + self.at(y)) / 2.0;
                }
                // Integral of the exponential between x and y.
                let (fx, fy) = (self.at(x), self.at(y));
                if from_left {
                    (fx - fy) / rate
                } else {
                    (fy - fx) / rate
                }
            }
        }
    }

    /// A point of `[x, y]` drawn from the density there (uniform if it is zero).
    fn sample<R: Rng + ?Sized>(&self, x: f64, y: f64, rng: &mut R) -> f64 {
        let u: f64 = rng.gen();
        let w = y - x;
        if w <= 0.0 {
            return x;
        }
        let (fx, fy) = (self.at(x), self.at(y));
        let total = self.mass(x, y);
        if !(total > 0.0 && total.is_finite()) {
            return x + u * w;
        }
        let m = u * total;
        let tau = match self.shape {
            Shape::Exp {
                rate, from_left, ..
            } if rate * w >= 1e-9 => {
                if from_left {
                    // (fx / rate) (1 - exp(-rate tau)) = m
                    -(1.0 - m * rate / fx).max(f64::MIN_POSITIVE).ln() / rate
                } else {
                    // (fx / rate) (exp(rate tau) - 1) = m
                    (1.0 + m * rate / fx.max(f64::MIN_POSITIVE)).ln() / rate
                }
            }
            _ => {
                // Trapezoid: fx tau + s tau^2 / 2 = m with slope s.
                let s = (fy - fx) / w;
                if s.abs() * w < 1e-12 * (fx + fy) {
                    m / fx.max(f64::MIN_POSITIVE)
                } else {
                    let disc = (fx * fx + 2.0 * s * m).max(0.0);
                    (disc.sqrt() - fx) / s
                }
            }
        };
        x + tau.clamp(0.0, w)
    }
}

/// A density over a numeric column's bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    scale: BinScale,
    axis: Axis,
    segs: Vec<Seg>,
}

/// `(1 - exp(-x)) / x`, decreasing from 1 (x = 0) towards 0.
fn decay_fraction(x: f64) -> f64 {
    if x < 1e-9 {
        1.0 - x / 2.0
    } else {
        -(-x).exp_m1() / x
    }
}

/// The rate `r` with `height * (1 - exp(-r w)) / r = mass` (needs `mass < height * w`).
fn decay_rate(height: f64, w: f64, mass: f64) -> f64 {
    let q = mass / (height * w);
    // decay_fraction(x) = q, by bisection on x = r w.
    let (mut lo, mut hi) = (0.0f64, 2.0 / q.max(1e-300) + 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if decay_fraction(mid) > q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi) / w
}

impl Density {
    /// The density of bins with spans `spans` (linear units, increasing and contiguous) and
    /// masses `masses` (negative masses count as zero), on `scale`, for a column on `axis`.
    pub fn new(axis: Axis, scale: BinScale, spans: &[(f64, f64)], masses: &[f64]) -> Density {
        let tf = |x: f64| match scale {
            BinScale::Linear => x,
            BinScale::Log => x.max(f64::MIN_POSITIVE).ln(),
        };
        let n = spans.len();
        let t: Vec<(f64, f64)> = spans.iter().map(|&(a, b)| (tf(a), tf(b))).collect();
        let m: Vec<f64> = masses
            .iter()
            .take(n)
            .map(|&x| if x.is_finite() { x.max(0.0) } else { 0.0 })
            .collect();
        let w: Vec<f64> = t.iter().map(|&(a, b)| (b - a).max(0.0)).collect();
        let h: Vec<f64> = (0..n)
            .map(|i| if w[i] > 0.0 { m[i] / w[i] } else { 0.0 })
            .collect();
        let mut segs = Vec::with_capacity(2 * n);
        if n == 1 {
            segs.push(Seg {
                lo: t[0].0,
                hi: t[0].1,
                shape: Shape::Linear { a: h[0], b: h[0] },
            });
            return Density { scale, axis, segs };
        }
        // e[j]: height at the edge between bins j - 1 and j (j = 1..n-1).
        let mut e = vec![0.0; n + 1];
        for j in 1..n {
            e[j] = 0.5 * (h[j - 1] + h[j]);
        }
        // An empty end bin pins its inner edge at zero.
        if m[0] == 0.0 {
            e[1] = 0.0;
        }
        if m[n - 1] == 0.0 {
            e[n - 1] = 0.0;
        }
        // Inner bins keep a non-negative centre: e_l + e_r <= 4 h.
        for i in 1..n - 1 {
            let s = e[i] + e[i + 1];
            if s > 4.0 * h[i] {
                let f = if s > 0.0 { 4.0 * h[i] / s } else { 0.0 };
                e[i] *= f;
                e[i + 1] *= f;
            }
        }
        for i in 0..n {
            let (lo, hi) = t[i];
            if i == 0 || i == n - 1 {
                // End bin: anchored at its inner edge.
                let inner = if i == 0 { e[1] } else { e[n - 1] };
                let from_left = i == n - 1;
                let shape = if m[i] == 0.0 || w[i] == 0.0 {
                    Shape::Linear { a: 0.0, b: 0.0 }
                } else if inner * w[i] > m[i] {
                    Shape::Exp {
                        height: inner,
                        rate: decay_rate(inner, w[i], m[i]),
                        from_left,
                    }
                } else {
                    let outer = 2.0 * h[i] - inner;
                    if from_left {
                        Shape::Linear { a: inner, b: outer }
                    } else {
                        Shape::Linear { a: outer, b: inner }
                    }
                };
                segs.push(Seg { lo, hi, shape });
            } else {
                let c = ((4.0 * h[i] - e[i] - e[i + 1]) / 2.0).max(0.0);
                let mid = 0.5 * (lo + hi);
                segs.push(Seg {
                    lo,
                    hi: mid,
                    shape: Shape::Linear { a: e[i], b: c },
                });
                segs.push(Seg {
                    lo: mid,
                    hi,
                    shape: Shape::Linear { a: c, b: e[i + 1] },
                });
            }
        }
        Density { scale, axis, segs }
    }

    fn to_t(&self, x: f64) -> f64 {
        match self.scale {
            BinScale::Linear => x,
            BinScale::Log => x.max(f64::MIN_POSITIVE).ln(),
        }
    }

    fn linear_of(&self, t: f64) -> f64 {
        match self.scale {
            BinScale::Linear => t,
            BinScale::Log => t.exp(),
        }
    }

    /// The density's height at `x` (linear units, on the density's scale), for tests.
    pub fn height(&self, x: f64) -> f64 {
        let t = self.to_t(x);
        self.segs
            .iter()
            .find(|s| s.lo <= t && t <= s.hi)
            .map_or(0.0, |s| s.at(t))
    }

    /// Mass of the density between `x` and `y` (linear units).
    pub fn mass_between(&self, x: f64, y: f64) -> f64 {
        let (a, b) = (self.to_t(x), self.to_t(y));
        self.segs
            .iter()
            .map(|s| s.mass(a.max(s.lo), b.min(s.hi)))
            .sum()
    }

    /// The linear-unit range an axis interval covers: whole cells around grid values.
    fn linear_range(&self, p: &Interval) -> (f64, f64) {
        if self.axis.is_grid() {
            let st = self.axis.step();
            ((p.lo - 0.5) * st, (p.hi + 0.5) * st)
        } else {
            (p.lo, p.hi)
        }
    }

    /// An axis value in `allowed` (non-empty), drawn from the density restricted to it;
    /// uniformly over `allowed` where the density gives it no mass.
    pub fn sample<R: Rng + ?Sized>(&self, allowed: &IntervalSet, rng: &mut R) -> Option<f64> {
        // Mass of each (part, segment) piece.
        let mut pieces: Vec<(usize, usize, f64, f64, f64)> = Vec::new();
        let mut total = 0.0;
        for (pi, p) in allowed.parts.iter().enumerate() {
            let (x, y) = self.linear_range(p);
            let (a, b) = (self.to_t(x), self.to_t(y));
            let first = self.segs.partition_point(|s| s.hi <= a);
            for (si, s) in self.segs.iter().enumerate().skip(first) {
                if s.lo >= b {
                    break;
                }
                let (lo, hi) = (a.max(s.lo), b.min(s.hi));
                let mass = s.mass(lo, hi);
                if mass > 0.0 && mass.is_finite() {
                    pieces.push((pi, si, lo, hi, mass));
                    total += mass;
                }
            }
        }
        if total <= 0.0 || total.is_nan() {
            return crate::schema::uniform_in(allowed, rng);
        }
        let mut u = rng.gen::<f64>() * total;
        let mut chosen = pieces[pieces.len() - 1];
        for p in &pieces {
            if u < p.4 {
                chosen = *p;
                break;
            }
            u -= p.4;
        }
        let (pi, si, lo, hi, _) = chosen;
        let t = self.segs[si].sample(lo, hi, rng);
        let x = self.linear_of(t);
        let part = allowed.parts[pi];
        Some(if self.axis.is_grid() {
            (x / self.axis.step()).round().clamp(part.lo, part.hi)
        } else {
            let mut v = x.clamp(part.lo, part.hi);
            if part.lo_open && v <= part.lo {
                v = part.lo.next_up();
            }
            if part.hi_open && v >= part.hi {
                v = part.hi.next_down();
            }
            v
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn spans(edges: &[f64]) -> Vec<(f64, f64)> {
        edges.windows(2).map(|w| (w[0], w[1])).collect()
    }

    #[test]
    fn keeps_every_bins_mass_and_is_continuous() {
        let edges = [0.0, 1.0, 2.0, 4.0, 8.0, 100.0];
        let masses = [10.0, 40.0, 30.0, 15.0, 5.0];
        let d = Density::new(Axis::Real, BinScale::Linear, &spans(&edges), &masses);
        for (w, m) in edges.windows(2).zip(masses) {
            let got = d.mass_between(w[0], w[1]);
            assert!((got - m).abs() < 1e-9 * m.max(1.0), "{w:?}: {got} vs {m}");
        }
        // Continuous at the inner edges.
        for &x in &edges[1..edges.len() - 1] {
            let (l, r) = (d.height(x - 1e-9), d.height(x + 1e-9));
            assert!(
                (l - r).abs() < 1e-6 * l.max(r).max(1e-9),
                "at {x}: {l} vs {r}"
            );
        }
        // The wide top bin tapers: most of its mass lies in its first tenth.
        assert!(d.mass_between(8.0, 17.2) > 0.8 * 5.0);
        assert!(d.height(99.0) < 1e-3 * d.height(8.0));
    }

    #[test]
    fn empty_bins_have_no_density_and_a_pile_up_at_the_bound_rises() {
        let d = Density::new(
            Axis::Real,
            BinScale::Linear,
            &spans(&[0.0, 1.0, 2.0, 3.0]),
            &[5.0, 0.0, 50.0],
        );
        assert_eq!(d.mass_between(1.0, 2.0), 0.0);
        assert!((d.mass_between(2.0, 3.0) - 50.0).abs() < 1e-9);
        assert!(d.height(2.9) > d.height(2.1));
    }

    #[test]
    fn samples_follow_the_density_and_stay_in_the_allowed_set() {
        let d = Density::new(
            Axis::Integer,
            BinScale::Log,
            &spans(&[0.5, 10.5, 100.5, 1000.5]),
            &[600.0, 300.0, 100.0],
        );
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let all = IntervalSet::from_parts(true, vec![Interval::closed(1.0, 1000.0)]);
        let n = 20_000;
        let mut in_top = 0;
        let mut above_500 = 0;
        for _ in 0..n {
            let v = d.sample(&all, &mut rng).unwrap();
            assert!((1.0..=1000.0).contains(&v) && v.fract() == 0.0);
            in_top += usize::from(v >= 101.0);
            above_500 += usize::from(v > 500.0);
        }
        // 10% of the mass is in the top bin (binomial sd ~0.002); it tapers there.
        let share = in_top as f64 / n as f64;
        assert!((share - 0.1).abs() < 0.012, "{share}");
        assert!(above_500 < in_top / 4, "{above_500} of {in_top}");
        // Restricted to a set the density gives no mass: uniform over it.
        let z = Density::new(
            Axis::Real,
            BinScale::Linear,
            &spans(&[0.0, 1.0, 2.0]),
            &[1.0, 0.0],
        );
        let s = IntervalSet::from_parts(false, vec![Interval::closed(1.5, 1.6)]);
        let v = z.sample(&s, &mut rng).unwrap();
        assert!((1.5..=1.6).contains(&v));
    }
}
