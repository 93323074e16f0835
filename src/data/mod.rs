//! Private data: streaming CSV reading, encoding into column-major codes, decoding back.

mod encoded;

pub use encoded::{Codes, EncodedTable};
