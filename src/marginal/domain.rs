//! The modelled attributes and their (public) sizes.

use serde::{Deserialize, Serialize};

/// Names and number of codes of each modelled attribute. Public: it comes from the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    names: Vec<String>,
    sizes: Vec<usize>,
}

impl Domain {
    /// Panics only on programmer error (mismatched lengths or a zero size), never on user input:
    /// the schema validates sizes before a domain is built.
    pub fn new(names: Vec<String>, sizes: Vec<usize>) -> Self {
        assert_eq!(names.len(), sizes.len(), "one size per attribute");
        assert!(sizes.iter().all(|&s| s > 0), "every attribute has at least one code");
        Domain { names, sizes }
    }

    /// A domain with generated names `a0, a1, ...`; handy in tests and for the model alone.
    pub fn from_sizes(sizes: Vec<usize>) -> Self {
        let names = (0..sizes.len()).map(|i| format!("a{i}")).collect();
        Domain::new(names, sizes)
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    pub fn size(&self, attr: usize) -> usize {
        self.sizes[attr]
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn name(&self, attr: usize) -> &str {
        &self.names[attr]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}
