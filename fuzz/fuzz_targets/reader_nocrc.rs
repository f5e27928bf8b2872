//! The dump reader on bytes whose checksums are recomputed before opening (when the
//! section table can be located), so mutations reach SPEC 7 steps 4 and 6 to 14 and
//! the readers instead of dying at a CRC. A custom mutator takes the file apart into
//! sections most of the time, mutates one section (or whole records, object rows, the
//! section list, the version) and lays it out again with fresh CRCs; otherwise, and for
//! bytes without a table, it mutates the raw bytes like `reader`.

#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};

fuzz_target!(|data: &[u8]| {
    match heapsnap_fuzz::fix_checksums(data) {
        Some(fixed) => heapsnap_fuzz::exercise(&fixed),
        None => heapsnap_fuzz::exercise(data),
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    // One raw mutation in eight keeps the frame itself (table, offsets, padding,
    // trailer) under test.
    if !seed.is_multiple_of(8) {
        if let Some(n) =
            heapsnap_fuzz::mutate_sections(data, size, max_size, seed / 8, fuzzer_mutate)
        {
            return n;
        }
    }
    fuzzer_mutate(data, size, max_size)
});
