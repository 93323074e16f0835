//! Counting every 3-way marginal of adult (455 cliques) in PostgreSQL vs in memory.
//!
//! Needs a server with the `adult` table (`source .ci/pg.sh && pg_up`), then:
//! `cargo run --release --example sql_counting [SETS_PER_QUERY ...]`
//! Prints wall times; checks that both give the same counts.

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::data::{read_table, ReadOptions};
use dpsynth::marginal::{all_k_way, Domain, InMemoryOracle, MarginalOracle};
use dpsynth::privacy::PrivacyUnit;
use dpsynth::schema::Schema;
use dpsynth::sql::{PgSource, Relation, SqlOracle};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DPSYNTH_TEST_PG")
        .map_err(|_| "set DPSYNTH_TEST_PG (see docs/sources.md)")?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/adult");
    let schema = Schema::from_path(&root.join("adult-domain.json"))?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let triples = all_k_way(domain.len(), 3);
    let _ = ReadOptions::default();

    let t = Instant::now();
    let (table, _) = read_table(&root.join("adult.csv"), &schema)?;
    let read = t.elapsed().as_secs_f64();
    let mem = InMemoryOracle::new(&table);
    let t = Instant::now();
    let expected: Vec<_> = triples
        .iter()
        .map(|c| mem.marginal(c))
        .collect::<Result<_, _>>()?;
    let counted = t.elapsed().as_secs_f64();
    println!(
        "in memory: read CSV {read:.3} s, {} 3-way marginals {counted:.3} s",
        triples.len()
    );

    let batches: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    for sets in if batches.is_empty() {
        vec![128]
    } else {
        batches
    } {
        let t = Instant::now();
        let mut src = PgSource::connect(&url, Relation::Table("adult".into()))?;
        let compiled = src.compile(&schema, None)?;
        let problems = src.validate(&compiled, false)?;
        assert!(problems.is_empty());
        let setup = t.elapsed().as_secs_f64();
        let oracle = SqlOracle::new(src, &compiled, domain.clone(), &PrivacyUnit::Record)?
            .with_sets_per_query(sets);
        let t = Instant::now();
        oracle.prefetch(&triples)?;
        let fetched = t.elapsed().as_secs_f64();
        for (c, e) in triples.iter().zip(&expected) {
            assert_eq!(oracle.marginal(c)?.values, e.values);
        }
        println!(
            "PostgreSQL: connect + validate {setup:.3} s, {} 3-way marginals {fetched:.3} s ({} per query, {} queries); counts equal",
            triples.len(),
            sets,
            triples.len().div_ceil(sets)
        );
    }
    Ok(())
}
