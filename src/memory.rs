//! Large arrays. The analysis allocates a few arrays of one entry per object or per edge
//! (hundreds of megabytes on a big dump); with 4 KiB pages, merely touching that memory
//! the first time costs 0.4 to 3.5 s per GiB on the machines we measure on, against 0.1
//! to 0.5 s with 2 MiB transparent huge pages (`../shared/notes/algorithms.md`). Linux
//! gives huge pages to anonymous memory only when asked (`madvise` mode is the common
//! default), so every large array is allocated here and advised before it is touched.

/// Arrays smaller than this are left alone.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// A vector of `len` copies of `value`, backed by huge pages where the kernel allows.
pub fn filled<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    advise_huge(&v);
    v.resize(len, value);
    v
}

/// A vector of `len` elements made by `f(i)`, backed by huge pages where possible.
pub fn from_fn<T>(len: usize, f: impl FnMut(usize) -> T) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    advise_huge(&v);
    v.extend((0..len).map(f));
    v
}

/// A vector of `len` zeros, advised for huge pages before anything touches it: the
/// pages are faulted in by whoever first writes them (on any thread).
pub fn zeroed<T: bytemuck::Zeroable + Copy>(len: usize) -> Vec<T> {
    let v: Vec<T> = bytemuck::zeroed_vec(len);
    advise_huge(&v);
    v
}

/// A vector of `len` elements made by `f(i)` on the thread pool, backed by huge pages
/// where possible.
pub fn par_from_fn<T: Send>(len: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    let mut v = Vec::with_capacity(len);
    advise_huge(&v);
    v.par_extend((0..len).into_par_iter().with_min_len(1 << 14).map(f));
    v
}

/// An empty vector with room for `cap` elements, advised for huge pages.
pub fn with_capacity<T>(cap: usize) -> Vec<T> {
    let v = Vec::with_capacity(cap);
    advise_huge(&v);
    v
}

/// Asks the kernel to back `v`'s allocation with huge pages. Only a hint: any failure
/// (another OS, THP disabled) leaves ordinary pages.
fn advise_huge<T>(v: &Vec<T>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < HUGE_MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = v.as_ptr() as usize;
        let aligned = start.next_multiple_of(PAGE);
        let end = (start + bytes) & !(PAGE - 1);
        if end > aligned {
            // SAFETY: madvise only changes how the kernel backs the pages of this range,
            // which lies inside the vector's own allocation; it neither reads nor writes
            // the memory and cannot invalidate it (MADV_HUGEPAGE is advisory).
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_have_the_asked_content() {
        let v = super::filled(3 << 20, 7u32);
        assert_eq!(v.len(), 3 << 20);
        assert!(v.iter().all(|&x| x == 7));
        let w = super::from_fn(5, |i| i * 2);
        assert_eq!(w, vec![0, 2, 4, 6, 8]);
        assert!(super::with_capacity::<u64>(1 << 20).capacity() >= 1 << 20);
    }
}
