//! Property tests: any valid snapshot content goes through the writer and the reader
//! unchanged (and the bytes are canonical: re-encoding the decoded content gives the
//! same file); the reference census agrees with a naive count on the same content.

use proptest::prelude::*;

use heapsnap::content::{Edge, Fact, FactData, Object, Root, SnapshotContent, Type, Value};
use heapsnap::{Snapshot, Verify};

fn fact_data(s: u32) -> impl Strategy<Value = FactData> {
    prop_oneof![
        any::<u64>().prop_map(FactData::U64),
        any::<i64>().prop_map(FactData::I64),
        (-1e300f64..1e300).prop_map(FactData::F64),
        (0..s).prop_map(FactData::String),
        any::<bool>().prop_map(FactData::Bool),
    ]
}

prop_compose! {
    fn content()(
        mut strings in prop::collection::vec(".{0,12}", 1..12),
        n in 0usize..20,
        t in 1usize..5,
        seed in prop::collection::vec(any::<u64>(), 64),
        edge_plan in prop::collection::vec((0usize..4, any::<u64>(), any::<u32>()), 0..20),
        size_plan in prop::collection::vec(prop_oneof![0u64..1000, 0xFFFF_FFF0u64..0x1_0000_0010, any::<u64>()], 20),
        nfacts in 0usize..6,
        root_plan in prop::collection::vec((any::<u64>(), prop::sample::select(vec![1u32, 2, 3, 5, 6, 7]), any::<u32>(), any::<u64>()), 0..6),
        value_plan in prop::collection::vec((any::<bool>(), any::<u32>(), 1u16..=4, 0u16..=1), 20),
    )(fd in prop::collection::vec(fact_data(strings.len() as u32 + 1), nfacts),
      strings in Just({ strings[0] = String::new(); strings.push("key".into()); strings }),
      n in Just(n), t in Just(t), seed in Just(seed), edge_plan in Just(edge_plan),
      size_plan in Just(size_plan), root_plan in Just(root_plan), value_plan in Just(value_plan),
    ) -> SnapshotContent {
        let s = strings.len() as u32;
        let types = (0..t).map(|i| Type {
            address: seed[i] | 1, // odd: distinct from object addresses below
            name: 1 + (seed[i] as u32 % (s - 1)),
            module: seed[i + 5] as u32 % s,
            flags: seed[i + 10] as u32 & 0xF,
        }).collect::<Vec<_>>();
        // Distinct addresses: distinct even values spread over the whole u64 range.
        let addresses: Vec<u64> = (0..n as u64).map(|i| (seed[20] & !0xFFFF).wrapping_add(i << 1)).collect();
        let mut objects: Vec<Object> = (0..n).map(|i| {
            let flags = (seed[30 + i % 30] as u32) & 0x7F;
            Object {
                address: addresses[i],
                type_index: (seed[40 + i % 20] as u32) % t as u32,
                size: size_plan[i],
                refcount: seed[i % 64] as u32,
                flags,
                edges: Vec::new(),
            }
        }).collect();
        if n > 0 {
            for (k, &(obj_sel, tgt, label)) in edge_plan.iter().enumerate() {
                let i = (obj_sel + k) % n;
                let target = if tgt % 3 == 0 { tgt } else { addresses[(tgt as usize) % n] };
                let label = if objects[i].flags & 0x20 != 0 { 0 } else {
                    let id = label % s;
                    if label & 1 == 1 { id | 0x8000_0000 } else { id }
                };
                objects[i].edges.push(Edge { target, label });
            }
        }
        let facts = fd.into_iter().enumerate().map(|(i, value)| Fact {
            key: 1 + i as u32 % (s - 1),
            value: match value { FactData::String(v) => FactData::String(v % s), v => v },
        }).collect::<Vec<_>>();
        // Keys must be unique: keep the first fact of each key.
        let mut seen = std::collections::BTreeSet::new();
        let facts = facts.into_iter().filter(|f| seen.insert(f.key)).collect();
        let roots = if n == 0 { Vec::new() } else {
            // SPEC 4.6: only THREAD roots have a detail; GC_GARBAGE and IMMORTAL no label.
            root_plan.iter().map(|&(o, kind, label, detail)| Root {
                object: o % n as u64,
                kind,
                label: if kind == 5 || kind == 6 { 0 } else { label % s },
                detail: if kind == 3 { detail } else { 0 },
            }).collect()
        };
        let values = (0..n).filter(|&i| value_plan[i].0).map(|i| Value {
            object: i as u64,
            string: value_plan[i].1 % s,
            kind: value_plan[i].2,
            flags: value_plan[i].3,
        }).collect();
        SnapshotContent { format: (1, 0), strings, facts, types, objects, roots, values }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read_is_identity(c in content()) {
        let bytes = c.to_bytes().unwrap();
        let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
        snap.check_addresses().unwrap();
        let back = SnapshotContent::from_snapshot(&snap);
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

/// The census by brute force: a hash map from address to object, every edge counted.
fn naive_census(c: &SnapshotContent) -> (u64, Vec<(u64, u64)>) {
    let index: std::collections::HashMap<u64, usize> = c
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.address, i))
        .collect();
    let mut found = vec![0u64; c.objects.len()];
    let mut dangling = 0;
    for o in &c.objects {
        for e in &o.edges {
            match index.get(&e.target) {
                Some(&i) => found[i] += 1,
                None => dangling += 1,
            }
        }
    }
    let surplus = c
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.flags & heapsnap::format::object_flags::REFCOUNT_UNKNOWN == 0)
        .filter(|(i, o)| u64::from(o.refcount) > found[*i])
        .map(|(i, o)| (i as u64, u64::from(o.refcount) - found[i]))
        .collect();
    (dangling, surplus)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn census_matches_a_naive_count(mut c in content()) {
        // Small refcounts, so that surplus and its absence both occur.
        for (i, o) in c.objects.iter_mut().enumerate() {
            o.refcount %= 4;
            if i % 5 == 0 {
                o.flags |= heapsnap::format::object_flags::REFCOUNT_UNKNOWN;
            }
        }
        let snap = Snapshot::from_bytes(&c.to_bytes().unwrap(), Verify::Full).unwrap();
        let got = heapsnap::census::census(&snap);
        let (dangling, surplus) = naive_census(&c);
        prop_assert_eq!(got.dangling_edges, dangling);
        let got: Vec<(u64, u64)> = got.surplus_roots.iter().map(|r| (r.object, r.surplus)).collect();
        prop_assert_eq!(got, surplus);
    }
}
