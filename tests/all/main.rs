//! The one integration-test binary, with a module per theme: committed test vectors,
//! corruption and hostile files, the CLI, and writer/reader round trips.

mod cli;
mod corruption;
mod roundtrip;
mod util;
mod vectors;
