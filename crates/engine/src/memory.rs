//! Transparent huge pages for the serving process's large tables.
//!
//! At a million items a request's time goes to random reads across gigabytes:
//! graph nodes and vectors, the online feature tables, the factor model. With
//! 4 KiB pages nearly every such read also misses the TLB and walks the page
//! table; a 2 MiB page covers 512 times as much. Many Linux distributions set
//! transparent huge pages to `madvise`, where only memory that asks for them
//! gets them, and the vector graph's memory (allocated inside usearch) cannot
//! ask at allocation. So [`advise_large_regions`] asks afterwards, for every
//! large anonymous region of the process: `MADV_HUGEPAGE`, so that pages
//! faulted in later are huge, then `MADV_COLLAPSE` (Linux ≥ 6.1), which
//! rebuilds the pages already there as huge pages. With THP set to `never`
//! the kernel refuses both and nothing changes. Measured in
//! docs/benchmarks.md (`/v1/recommend` at 1M items).

use std::collections::HashMap;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Large anonymous regions found that were not advised before.
    pub regions: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Regions (new or retried) the kernel collapsed into huge pages whole.
    pub collapsed: usize,
    /// Regions whose earlier collapse failed in part, tried again.
    pub retried: usize,
}

/// Sweeps that try again to collapse a region the kernel could not collapse
/// whole (no free 2 MiB blocks at the time: memory is fragmented, or taken
/// by the page cache, and frees up later).
const COLLAPSE_TRIES: u32 = 10;

/// What the sweeps know of each region: how many collapses failed, or
/// [`DONE`] once one succeeded.
pub type Seen = HashMap<Region, u32>;

const DONE: u32 = u32::MAX;

/// A region of the address space: start and length in bytes.
type Region = (usize, usize);

/// Private, writable, anonymous mappings (the heap included) of at least
/// `min_bytes`, from the text of `/proc/self/maps`.
fn large_anonymous(maps: &str, min_bytes: usize) -> Vec<Region> {
    maps.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let _offset = f.next()?;
            let _device = f.next()?;
            let inode = f.next()?;
            let path = f.next();
            let anonymous = inode == "0" && path.is_none_or(|p| p == "[heap]");
            if !(anonymous && perms.starts_with("rw") && perms.ends_with('p')) {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let start = usize::from_str_radix(a, 16).ok()?;
            let end = usize::from_str_radix(b, 16).ok()?;
            (end.checked_sub(start)? >= min_bytes).then_some((start, end - start))
        })
        .collect()
}

/// Advises every large anonymous region not in `seen` to use huge pages and
/// collapses it; `seen` remembers them, so a periodic sweep only touches new
/// ones (a snapshot or model loaded since) and retries, a few times, those
/// the kernel could not collapse whole.
pub fn advise_large_regions(min_bytes: usize, seen: &mut Seen) -> std::io::Result<Sweep> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(sweep(large_anonymous(&maps, min_bytes), seen, huge))
}

/// One sweep over `regions`: `collapse` advises a region and says whether
/// the kernel collapsed it whole.
fn sweep(regions: Vec<Region>, seen: &mut Seen, collapse: impl Fn(Region) -> bool) -> Sweep {
    let mut sweep = Sweep::default();
    for region in regions {
        let failed = seen.entry(region).or_insert(0);
        match *failed {
            DONE => continue,
            0 => {
                sweep.regions += 1;
                sweep.bytes += region.1 as u64;
            }
            n if n < COLLAPSE_TRIES => sweep.retried += 1,
            _ => continue,
        }
        if collapse(region) {
            sweep.collapsed += 1;
            *failed = DONE;
        } else {
            *failed += 1;
        }
    }
    sweep
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // madvise(2) has no safe wrapper
fn huge((start, len): Region) -> bool {
    let addr = start as *mut libc::c_void;
    // SAFETY: the range is a whole mapping of this process, read from
    // /proc/self/maps; these two advices change how its pages are backed,
    // never their contents. A region unmapped since the read makes the call
    // fail with ENOMEM, which is only reported as not collapsed.
    unsafe {
        libc::madvise(addr, len, libc::MADV_HUGEPAGE);
        libc::madvise(addr, len, libc::MADV_COLLAPSE) == 0
    }
}

/// The sequence model's fit allocates and frees tensors of tens of MB at
/// every step; glibc maps and unmaps each one above its threshold, which
/// costs more system time than the arithmetic (measured: 66 s of system time
/// against 56 s of user time on ml-100k). Keeping them in the heap (up to
/// glibc's 32 MiB ceiling) and not trimming it after every step avoids that.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // mallopt(3) has no safe wrapper
pub(crate) fn keep_freed_memory() {
    // SAFETY: mallopt only changes the allocator's thresholds; it is
    // thread-safe and any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn keep_freed_memory() {}

/// Hands the pages of freed heap memory back to the kernel. A catalog
/// snapshot built from the store frees a gigabyte of vectors read on the way
/// (the index keeps its own copy) and many small buffers; glibc returns only
/// the top of each heap by itself, so the freed pages between live
/// allocations stayed in the process's RSS (4.9 GB instead of 3.0 GB at 1M
/// items, docs/benchmarks.md). `malloc_trim` advises every whole free page
/// away; it takes milliseconds to tens of milliseconds.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // malloc_trim(3) has no safe wrapper
pub(crate) fn release_freed_memory() {
    // SAFETY: malloc_trim only releases pages of free chunks; it takes the
    // allocator's locks like any allocation and leaves live memory intact.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_freed_memory() {}

#[cfg(not(target_os = "linux"))]
fn huge(_: Region) -> bool {
    false
}

/// Sweeps now and then every `every` for the life of the process, on a
/// thread of its own, logging what each sweep advised.
pub fn spawn_sweeper(min_bytes: usize, every: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("huge-pages".into())
        .spawn(move || {
            let mut seen = Seen::new();
            loop {
                let t = std::time::Instant::now();
                match advise_large_regions(min_bytes, &mut seen) {
                    Ok(s) if s.regions + s.retried > 0 => tracing::info!(
                        regions = s.regions,
                        mib = s.bytes >> 20,
                        retried = s.retried,
                        collapsed = s.collapsed,
                        ms = t.elapsed().as_millis() as u64,
                        "huge pages advised for large tables"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read /proc/self/maps: huge pages not advised");
                        return;
                    }
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "huge page sweeper not started");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_private_anonymous_writable_regions_are_taken() {
        let maps = "\
55d0c0000000-55d0c8000000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0010000000 rw-p 00000000 00:00 0 
7f0010000000-7f0010001000 rw-p 00000000 00:00 0 
7f0020000000-7f0030000000 r--p 00000000 fd:01 1234                       /var/tmp/graph.usearch
7f0030000000-7f0040000000 rw-s 00000000 00:01 99                         /dev/zero (deleted)
7f0040000000-7f0050000000 r-xp 00000000 00:00 0 
7ffd00000000-7ffd10000000 rw-p 00000000 00:00 0                          [stack]
";
        assert_eq!(
            large_anonymous(maps, 1 << 20),
            vec![(0x55d0c0000000, 0x8000000), (0x7f0000000000, 0x10000000)]
        );
    }

    #[test]
    fn a_sweep_finds_a_large_table_of_this_process_and_leaves_it_intact() {
        let table = vec![1u8; 64 << 20];
        let at = table.as_ptr() as usize;
        let mut seen = Seen::new();
        let first = advise_large_regions(32 << 20, &mut seen).unwrap();
        assert!(first.regions >= 1, "{first:?}");
        assert!(
            seen.keys().any(|&(s, l)| (s..s + l).contains(&at)),
            "the 64 MiB table at {at:#x} is not among {seen:?}"
        );
        // Advising changes no contents.
        assert!(table.iter().all(|&b| b == 1));
    }

    // Which regions a sweep touches, over fixed regions: the process's own
    // map changes under it while other tests of this binary allocate and
    // free (CI once saw a table's mapping come back under a new extent, as
    // a neighbouring mapping it had been merged with went away).
    #[test]
    fn a_sweep_advises_a_region_once_and_retries_a_failed_collapse_a_bounded_number_of_times() {
        let (a, b) = ((0x1000_0000, 64 << 20), (0x8000_0000, 128 << 20));
        let mut seen = Seen::new();
        // `a` collapses, `b` never does.
        let collapse = |r: Region| r == a;
        let first = sweep(vec![a, b], &mut seen, collapse);
        assert_eq!(
            first,
            Sweep {
                regions: 2,
                bytes: (192 << 20) as u64,
                collapsed: 1,
                retried: 0
            }
        );
        let again = sweep(vec![a, b], &mut seen, collapse);
        assert_eq!((again.regions, again.retried), (0, 1), "{again:?}");
        for _ in 0..COLLAPSE_TRIES + 2 {
            sweep(vec![a, b], &mut seen, collapse);
        }
        let last = sweep(vec![a, b], &mut seen, collapse);
        assert_eq!((last.regions, last.retried), (0, 0), "{last:?}");
        assert_eq!(seen[&b], COLLAPSE_TRIES);
        // A region mapped since is new.
        let c = (0x9000_0000, 64 << 20);
        let later = sweep(vec![a, b, c], &mut seen, |_| true);
        assert_eq!((later.regions, later.collapsed), (1, 1), "{later:?}");
    }
}
