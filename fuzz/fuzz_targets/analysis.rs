//! The analysis engine and every analysis command (top, dominators, cycles, path, refs,
//! export; text and JSON) on fuzzed dumps whose checksums are recomputed, with the same
//! structure-aware mutator as `reader_nocrc`.

#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};

fuzz_target!(|data: &[u8]| {
    match heapsnap_fuzz::fix_checksums(data) {
        Some(fixed) => heapsnap_fuzz::exercise_analysis(&fixed),
        None => heapsnap_fuzz::exercise_analysis(data),
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    if !seed.is_multiple_of(8) {
        if let Some(n) =
            heapsnap_fuzz::mutate_sections(data, size, max_size, seed / 8, fuzzer_mutate)
        {
            return n;
        }
    }
    fuzzer_mutate(data, size, max_size)
});
