//! Decoding synthetic codes into values: post-processing of the fitted model only.
//!
//! - Categorical codes become their value, missing codes the column's first missing token,
//!   special values themselves.
//! - Numbers, dates and date-times are drawn inside their bin from a within-bin density built
//!   from the model's one-way masses ([`Density`]); without masses, uniformly.
//! - Where the schema's rules constrain a record's numbers, they are drawn one after another
//!   from the values that keep every rule satisfiable (`schema::rules`), so the record obeys
//!   the rules by construction.
//! - Every record is then checked on its written text, read back as a reader would; a
//!   violation is an internal error and nothing is written.
//!
//! Decoding draws from its own ChaCha stream ([`decode_rng`]), independent of the sampler's.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::schema::rules::CompiledRules;
use crate::schema::value::IntervalSet;
use crate::schema::{CodeValue, Column, Schema};

use super::density::Density;
use super::error::DataError;

/// The ChaCha stream decoding draws from. The sampler uses stream 0 (rounding) or one stream
/// per chunk of 8,192 records (forward sampling, streams 0, 1, 2, ...); this one lies far
/// beyond any chunk count, so decoding never repeats the sampler's draws.
pub const DECODE_STREAM: u64 = 0x6465_636f_6465_0000;

/// The generator decoding draws from for a release seed.
pub fn decode_rng(seed: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(DECODE_STREAM);
    rng
}

/// Turns code vectors into written records for one schema.
#[derive(Clone, Debug)]
pub struct Decoder {
    schema: Schema,
    /// Per modelled column: the within-bin density (None: uniform within bins).
    densities: Vec<Option<Density>>,
    rules: CompiledRules,
}

impl Decoder {
    /// A decoder drawing numbers uniformly within their bins (still obeying the rules).
    pub fn uniform(schema: &Schema) -> Result<Decoder, DataError> {
        Decoder::build(schema, None)
    }

    /// A decoder whose within-bin densities follow `masses`: per modelled column, the
    /// model's mass of each code (bins first, as the column lays out its codes).
    pub fn with_masses(schema: &Schema, masses: &[Vec<f64>]) -> Result<Decoder, DataError> {
        Decoder::build(schema, Some(masses))
    }

    fn build(schema: &Schema, masses: Option<&[Vec<f64>]>) -> Result<Decoder, DataError> {
        let rules = schema.compiled_rules().map_err(|e| DataError::Internal {
            message: format!("the schema's rules do not compile: {e}"),
        })?;
        let densities = schema
            .modelled()
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let masses = masses?.get(j)?;
                density_of(c, masses)
            })
            .collect();
        Ok(Decoder {
            schema: schema.clone(),
            densities,
            rules,
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// A value of modelled column `j` in `allowed` (axis values), drawn from its density.
    fn draw(&self, j: usize, allowed: &IntervalSet, rng: &mut ChaCha20Rng) -> Option<f64> {
        match &self.densities[j] {
            Some(d) => d.sample(allowed, rng),
            None => crate::schema::uniform_in(allowed, rng),
        }
    }

    /// Decodes one record's codes (one per modelled column) into its modelled columns'
    /// texts, obeying the rules; checks the written texts against every rule.
    pub fn decode_record(
        &self,
        row: usize,
        codes: &[u32],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<String>, DataError> {
        let modelled = self.schema.modelled();
        let internal = |what: String| DataError::RuleViolation { row: row + 1, what };
        let mut solution = self.rules.solve_record(codes).map_err(internal)?;
        let mut failed = None;
        let drawn = solution.draw(|j, allowed| match self.draw(j, allowed, rng) {
            Some(v) => v,
            None => {
                failed = Some(j);
                f64::NAN
            }
        });
        if let Some(j) = failed {
            return Err(internal(format!(
                "column {:?}: no value left to draw",
                modelled[j].name()
            )));
        }
        let mut texts = Vec::with_capacity(modelled.len());
        for (j, col) in modelled.iter().enumerate() {
            let text = match drawn.iter().find(|(c, _)| *c == j) {
                Some((_, v)) => col.format_axis(*v),
                None => match col.code_value(codes[j]) {
                    Some(CodeValue::Text(t)) => t,
                    Some(CodeValue::Missing) => col.missing_text(),
                    Some(CodeValue::Values(set)) => {
                        let v = self.draw(j, &set, rng).ok_or_else(|| {
                            internal(format!("column {:?}: an empty bin", col.name()))
                        })?;
                        col.format_axis(v)
                    }
                    None => {
                        return Err(internal(format!(
                            "column {:?}: code {} is out of range",
                            col.name(),
                            codes[j]
                        )))
                    }
                },
            };
            texts.push(text);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.rules.check_written(&refs).map_err(internal)?;
        Ok(texts)
    }
}

/// The within-bin density of a numeric, date or date-time column from its codes' masses.
fn density_of(c: &Column, masses: &[f64]) -> Option<Density> {
    let axis = c.axis()?;
    let n = c.n_bins();
    if n == 0 || masses.len() < n {
        return None;
    }
    let spans: Vec<(f64, f64)> = (0..n as u32)
        .map(|k| c.density_span(k))
        .collect::<Option<_>>()?;
    let scale = c.bins().map(|b| b.scale()).unwrap_or_default();
    Some(Density::new(axis, scale, &spans, &masses[..n]))
}
