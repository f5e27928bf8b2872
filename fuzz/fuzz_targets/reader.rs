//! The dump reader on raw bytes: `Snapshot::from_bytes` with both verify modes, then
//! every reader path of the CLI (see `heapsnap_fuzz::exercise`). Most mutations end at
//! a checksum; `reader_nocrc` gets past them.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heapsnap_fuzz::exercise(data);
});
