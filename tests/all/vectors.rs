//! The committed test vectors (format/vectors/): the writer turns each `NAME.json` into
//! exactly `NAME.hsnap`, and the reader (through every open path) decodes `NAME.hsnap`
//! back to `NAME.json`. `HEAPSNAP_UPDATE_VECTORS=1` regenerates the `.hsnap` files.

use heapsnap::{Snapshot, SnapshotContent, Verify};

use crate::util::{
    update_vectors_once, vector_bytes, vector_content, vector_json, vector_path, VECTORS,
};

#[test]
fn writer_produces_committed_bytes() {
    for name in VECTORS {
        let bytes = vector_content(name).to_bytes().unwrap();
        assert!(
            bytes == vector_bytes(name),
            "{name}: writer output differs from {name}.hsnap (regenerate with HEAPSNAP_UPDATE_VECTORS=1 after a deliberate change)"
        );
    }
}

#[test]
fn reader_decodes_committed_bytes_to_json() {
    for name in VECTORS {
        update_vectors_once();
        let path = vector_path(name, "hsnap");
        let mapped = Snapshot::open(&path, Verify::Full).unwrap();
        let read = Snapshot::open_read(&path, Verify::Full).unwrap();
        let copied = Snapshot::from_bytes(&vector_bytes(name), Verify::SkipChecksums).unwrap();
        assert!(!read.is_mapped());
        for snap in [&mapped, &read, &copied] {
            snap.check_addresses().unwrap();
            let decoded = serde_json::to_value(SnapshotContent::from_snapshot(snap)).unwrap();
            assert_eq!(
                decoded,
                vector_json(name),
                "{name}: decoded content differs"
            );
        }
    }
}

#[test]
fn vectors_exercise_what_they_claim() {
    let small = Snapshot::from_bytes(&vector_bytes("small"), Verify::Full).unwrap();
    assert_eq!(small.object_count(), 8);
    assert_eq!(heapsnap::census::census(&small).dangling_edges, 1);
    assert!(small.edge_labels().is_some());
    assert!(!small.values().is_empty());
    let kinds: std::collections::BTreeSet<u32> = small.roots().iter().map(|r| r.kind).collect();
    assert_eq!(kinds.len(), 6, "every stored root kind (4 is derived)");
    let fact_kinds: std::collections::BTreeSet<u32> =
        small.facts().iter().map(|f| f.kind).collect();
    assert_eq!(fact_kinds.len(), 5, "every fact kind");

    let wide = Snapshot::from_bytes(&vector_bytes("wide"), Verify::Full).unwrap();
    assert_eq!(wide.wide_sizes().len(), 3);
    assert_eq!(wide.shallow_size(1), 1 << 33);
    assert_eq!(wide.shallow_size(2), 0xFFFF_FFFE);
    assert!(wide.edge_labels().is_none());

    let none = Snapshot::from_bytes(&vector_bytes("labels-none"), Verify::Full).unwrap();
    assert!(none.edge_count() > 0);
    assert!(none.edge_labels().is_none());
    assert!(none.values().is_empty());

    let empty = Snapshot::from_bytes(&vector_bytes("empty"), Verify::Full).unwrap();
    assert_eq!(empty.object_count(), 0);
    assert_eq!(empty.edge_starts(), &[0]);
}
