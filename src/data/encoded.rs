//! Column-major encoded tables: one code per cell, in the narrowest integer type that fits.

use super::truncate::UnitIds;

/// The codes of one column. The width is chosen from the column's (public) cardinality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Codes {
    /// An empty column able to hold codes `0..cardinality`.
    pub fn with_cardinality(cardinality: usize, capacity: usize) -> Self {
        if cardinality <= u8::MAX as usize + 1 {
            Codes::U8(Vec::with_capacity(capacity))
        } else if cardinality <= u16::MAX as usize + 1 {
            Codes::U16(Vec::with_capacity(capacity))
        } else {
            Codes::U32(Vec::with_capacity(capacity))
        }
    }

    /// Appends a code; the caller guarantees `code < cardinality` of this column.
    pub fn push(&mut self, code: u32) {
        match self {
            Codes::U8(v) => v.push(code as u8),
            Codes::U16(v) => v.push(code as u16),
            Codes::U32(v) => v.push(code),
        }
    }

    pub fn reserve(&mut self, additional: usize) {
        match self {
            Codes::U8(v) => v.reserve(additional),
            Codes::U16(v) => v.reserve(additional),
            Codes::U32(v) => v.reserve(additional),
        }
    }

    /// Appends `other`'s codes (of the same width: both made for one column).
    pub fn append(&mut self, other: &Codes) {
        match (self, other) {
            (Codes::U8(a), Codes::U8(b)) => a.extend_from_slice(b),
            (Codes::U16(a), Codes::U16(b)) => a.extend_from_slice(b),
            (Codes::U32(a), Codes::U32(b)) => a.extend_from_slice(b),
            (a, b) => (0..b.len()).for_each(|i| a.push(b.get(i))),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Codes::U8(v) => v.len(),
            Codes::U16(v) => v.len(),
            Codes::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, row: usize) -> u32 {
        match self {
            Codes::U8(v) => v[row] as u32,
            Codes::U16(v) => v[row] as u32,
            Codes::U32(v) => v[row],
        }
    }

    /// Adds `code * stride` to `acc[i]` for each row `start + i`: the inner loop of counting,
    /// kept monomorphic per width so it vectorises.
    pub fn accumulate(&self, start: usize, stride: u32, acc: &mut [u32]) {
        self.scaled_into::<true>(start, stride, acc)
    }

    /// Stores `code * stride` in `acc[i]` for each row `start + i`: [`Codes::accumulate`]
    /// into zeros, without first clearing `acc`.
    pub fn store(&self, start: usize, stride: u32, acc: &mut [u32]) {
        self.scaled_into::<false>(start, stride, acc)
    }

    /// `acc[i] (+)= code * stride`, one loop per width and per `ADD`.
    fn scaled_into<const ADD: bool>(&self, start: usize, stride: u32, acc: &mut [u32]) {
        fn go<T: Copy + Into<u32>, const ADD: bool>(src: &[T], stride: u32, acc: &mut [u32]) {
            for (a, &c) in acc.iter_mut().zip(src) {
                let term = c.into() * stride;
                *a = if ADD { *a + term } else { term };
            }
        }
        let end = start + acc.len();
        match self {
            Codes::U8(v) => go::<_, ADD>(&v[start..end], stride, acc),
            Codes::U16(v) => go::<_, ADD>(&v[start..end], stride, acc),
            Codes::U32(v) => go::<_, ADD>(&v[start..end], stride, acc),
        }
    }
}

/// An encoded table: the modelled columns of a data set, each a vector of codes.
///
/// It holds private data. Nothing derived from it may leave the tool except through a
/// mechanism in `crate::mechanism` (via `crate::marginal::MarginalOracle`).
#[derive(Clone, Debug)]
pub struct EncodedTable {
    names: Vec<String>,
    cardinalities: Vec<usize>,
    columns: Vec<Codes>,
    n_rows: usize,
    /// Each row's privacy unit, when the reader was asked for one (private, like the codes).
    units: Option<UnitIds>,
}

impl EncodedTable {
    /// Builds a table from finished columns. Returns `None` if the columns disagree in length
    /// or count with the names and cardinalities.
    pub fn new(names: Vec<String>, cardinalities: Vec<usize>, columns: Vec<Codes>) -> Option<Self> {
        if names.len() != cardinalities.len() || names.len() != columns.len() {
            return None;
        }
        let n_rows = columns.first().map_or(0, |c| c.len());
        if columns.iter().any(|c| c.len() != n_rows) {
            return None;
        }
        Some(EncodedTable {
            names,
            cardinalities,
            columns,
            n_rows,
            units: None,
        })
    }

    /// Attaches each row's privacy unit. `None` if the count differs from the rows.
    pub fn with_units(mut self, units: UnitIds) -> Option<Self> {
        if units.len() != self.n_rows {
            return None;
        }
        self.units = Some(units);
        Some(self)
    }

    /// Each row's privacy unit, if the table was read with a unit column.
    pub fn units(&self) -> Option<&UnitIds> {
        self.units.as_ref()
    }

    /// Builds a table from row-major codes (tests and small inputs).
    pub fn from_rows(
        names: Vec<String>,
        cardinalities: Vec<usize>,
        rows: &[Vec<u32>],
    ) -> Option<Self> {
        let mut columns: Vec<Codes> = cardinalities
            .iter()
            .map(|&c| Codes::with_cardinality(c, rows.len()))
            .collect();
        for row in rows {
            if row.len() != columns.len() {
                return None;
            }
            for ((col, &code), &card) in columns.iter_mut().zip(row).zip(&cardinalities) {
                if code as usize >= card {
                    return None;
                }
                col.push(code);
            }
        }
        EncodedTable::new(names, cardinalities, columns)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn cardinalities(&self) -> &[usize] {
        &self.cardinalities
    }

    pub fn column(&self, i: usize) -> &Codes {
        &self.columns[i]
    }

    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// The true number of rows. Private: use only inside mechanisms and curator-side tools.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn row(&self, r: usize) -> Vec<u32> {
        self.columns.iter().map(|c| c.get(r)).collect()
    }
}
