//! Columns: the large per-object and per-edge arrays of the graph and the analyses,
//! either computed in memory or mapped read-only from an index file
//! ([`crate::index`]). Both read as `&[T]`, so the code that uses them does not care
//! where they came from.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use bytemuck::Pod;
use memmap2::Mmap;

/// An immutable array of plain values, owned or mapped from a file.
pub enum Column<T> {
    /// Computed in this process.
    Owned(Vec<T>),
    /// A validated, aligned range of a read-only map.
    Mapped(Mapped<T>),
}

/// `len` values of type `T` at byte `offset` of a map.
pub struct Mapped<T> {
    map: Arc<Mmap>,
    offset: usize,
    len: usize,
    _type: PhantomData<T>,
}

impl<T: Pod> Mapped<T> {
    /// The values at `offset .. offset + len * size_of::<T>()` of `map`, or `None` if
    /// that range is outside the map or not aligned for `T`.
    pub fn new(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Mapped<T>> {
        let end = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(offset))?;
        let bytes = map.get(offset..end)?;
        bytemuck::try_cast_slice::<u8, T>(bytes).ok()?;
        Some(Mapped {
            map,
            offset,
            len,
            _type: PhantomData,
        })
    }
}

impl<T: Pod> Deref for Column<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            Column::Owned(v) => v,
            Column::Mapped(m) => {
                let bytes = &m.map[m.offset..m.offset + m.len * std::mem::size_of::<T>()];
                // Checked in `Mapped::new`: in range and aligned.
                bytemuck::cast_slice(bytes)
            }
        }
    }
}

impl<T> From<Vec<T>> for Column<T> {
    fn from(v: Vec<T>) -> Column<T> {
        Column::Owned(v)
    }
}

impl<T: Clone> Clone for Column<T> {
    fn clone(&self) -> Column<T> {
        match self {
            Column::Owned(v) => Column::Owned(v.clone()),
            Column::Mapped(m) => Column::Mapped(Mapped {
                map: m.map.clone(),
                offset: m.offset,
                len: m.len,
                _type: PhantomData,
            }),
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Column::Owned(_) => "owned",
            Column::Mapped(_) => "mapped",
        };
        write!(f, "Column({kind}, {} values)", self.len())
    }
}

impl<T: Pod> Column<T> {
    /// True if the values are mapped from a file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Column::Mapped(_))
    }
}

impl<'a, T: Pod> IntoIterator for &'a Column<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> FromIterator<T> for Column<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Column<T> {
        Column::Owned(iter.into_iter().collect())
    }
}
