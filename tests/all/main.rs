//! The one integration-test binary, with a module per theme: committed test vectors,
//! corruption and hostile files (with a seeded mutation test), the CLI, regressions
//! from the robustness review, writer/reader round trips, and the index cache.

mod cli;
mod commands;
mod corruption;
mod diff;
mod index;
mod layers;
mod oracles;
mod pack;
mod regressions;
mod report;
mod robustness;
mod roundtrip;
mod svg;
mod util;
mod vectors;
