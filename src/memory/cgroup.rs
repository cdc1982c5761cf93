//! The container's memory limit and usage, from cgroup v2 or v1.
//!
//! Docker's `--memory` and Kubernetes' `resources.limits.memory` become a
//! cgroup limit; the kernel OOM-kills the process when the cgroup's charge
//! cannot be brought back under it. What is charged differs by version:
//! - **v2** (`memory.max`, `memory.current`): anonymous memory, page cache,
//!   kernel memory *and socket buffers*. Ten thousand busy connections can
//!   charge hundreds of MiB that the allocator never sees.
//! - **v1** (`memory.limit_in_bytes`, `memory.usage_in_bytes`): anonymous
//!   memory and page cache; TCP buffers only when a kmem.tcp limit is set.
//!
//! Usage is reported as the *working set*, usage minus inactive file pages,
//! the same figure Kubernetes evicts on and `docker stats` shows: inactive
//! page cache is reclaimed before anything is killed.
//!
//! Tested here on cgroup v1 only (the development machine's controller);
//! the v2 paths follow the kernel's cgroup-v2 documentation.

use std::fs;
use std::path::{Path, PathBuf};

/// Limits at or above this are "no limit" (v1 reports 2^63 rounded to a page).
const UNLIMITED: u64 = 1 << 62;

/// Which cgroup version the memory controller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Unified hierarchy.
    V2,
    /// Legacy memory controller.
    V1,
}

/// What the cgroup is charged, as [`Cgroup::charges`] reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Charges {
    /// Usage minus inactive file pages (see [`Cgroup::working_set`]).
    pub working_set: Option<u64>,
    /// Kernel socket buffers (`sock` in v2's memory.stat): TCP data
    /// received and not yet read, or written and not yet acknowledged.
    /// `None` on v1.
    pub sockets: Option<u64>,
}

/// The memory cgroup this process is charged to.
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: Version,
    dir: PathBuf,
    limit: Option<u64>,
}

impl Cgroup {
    /// Finds this process's memory cgroup, or `None` outside any.
    pub fn detect() -> Option<Cgroup> {
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        Self::detect_from(&own, Path::new("/sys/fs/cgroup"))
    }

    /// Detection from a `/proc/self/cgroup` text and a cgroupfs root (tests).
    pub fn detect_from(proc_self_cgroup: &str, root: &Path) -> Option<Cgroup> {
        let mut v1_path = None;
        let mut v2_path = None;
        for line in proc_self_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            if id == "0" && controllers.is_empty() {
                v2_path = Some(path.trim_start_matches('/').to_string());
            } else if controllers.split(',').any(|c| c == "memory") {
                v1_path = Some(path.trim_start_matches('/').to_string());
            }
        }
        if let Some(path) = v1_path {
            let base = root.join("memory");
            // Inside a container with its own cgroup namespace the path may
            // not exist under our view of cgroupfs: the root is ours then.
            let dir = [base.join(&path), base.clone()]
                .into_iter()
                .find(|d| d.join("memory.usage_in_bytes").exists())?;
            let limit = v1_limit(&dir);
            return Some(Cgroup { version: Version::V1, dir, limit });
        }
        let path = v2_path?;
        let dir = [root.join(&path), root.to_path_buf()]
            .into_iter()
            .find(|d| d.join("memory.current").exists())?;
        let limit = v2_limit(&dir, root);
        Some(Cgroup { version: Version::V2, dir, limit })
    }

    /// The memory cgroup at `dir`, named explicitly instead of found through
    /// `/proc/self/cgroup`: another process's cgroup (the load driver watches
    /// the server's this way). v1 when `dir` has `memory.usage_in_bytes`, v2
    /// when it has `memory.current`, `None` when it has neither. The limit is
    /// the effective one, as for [`Cgroup::detect`]: on v1 the smaller of its
    /// own and the hierarchical limit; on v2 the smallest `memory.max` from
    /// `dir` up through the ancestors that are cgroups too (that have a
    /// `cgroup.controllers`). Like every limit here it is read once, now.
    pub fn at(dir: &Path) -> Option<Cgroup> {
        let dir = dir.to_path_buf();
        if dir.join("memory.usage_in_bytes").exists() {
            let limit = v1_limit(&dir);
            return Some(Cgroup { version: Version::V1, dir, limit });
        }
        if !dir.join("memory.current").exists() {
            return None;
        }
        let root = dir
            .ancestors()
            .take_while(|d| d.join("cgroup.controllers").exists())
            .last()
            .unwrap_or(dir.as_path())
            .to_path_buf();
        let limit = v2_limit(&dir, &root);
        Some(Cgroup { version: Version::V2, dir, limit })
    }

    /// Cgroup version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The effective limit in bytes (the smallest along the hierarchy), or
    /// `None` when unlimited.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Current working set in bytes: usage minus inactive file pages.
    pub fn working_set(&self) -> Option<u64> {
        self.charges().working_set
    }

    /// The working set and the socket buffers, from one read of
    /// memory.stat (the governor takes both every tick).
    pub fn charges(&self) -> Charges {
        let (inactive_key, sockets_key) = match self.version {
            Version::V2 => ("inactive_file", Some("sock")),
            // v1 charges sockets only to a separate kmem.tcp counter, and
            // only when a limit is set there.
            Version::V1 => ("total_inactive_file", None),
        };
        let stat = fs::read_to_string(self.dir.join("memory.stat")).unwrap_or_default();
        let inactive = stat_field(&stat, inactive_key).unwrap_or(0);
        Charges {
            working_set: self.usage().map(|usage| usage.saturating_sub(inactive)),
            sockets: sockets_key.and_then(|key| stat_field(&stat, key)),
        }
    }

    /// Bytes charged to the cgroup now, inactive page cache included
    /// (`memory.current`, `memory.usage_in_bytes`): what the kernel compares
    /// with the limit before it reclaims. [`Cgroup::working_set`] is what is
    /// left once reclaim has done its work.
    pub fn usage(&self) -> Option<u64> {
        read_u64(&self.dir.join(match self.version {
            Version::V2 => "memory.current",
            Version::V1 => "memory.usage_in_bytes",
        }))
    }

    /// The most bytes ever charged (`memory.peak`, which needs Linux 5.19 on
    /// v2; `memory.max_usage_in_bytes` on v1), or `None` where the kernel
    /// does not keep it.
    pub fn peak(&self) -> Option<u64> {
        read_u64(&self.dir.join(match self.version {
            Version::V2 => "memory.peak",
            Version::V1 => "memory.max_usage_in_bytes",
        }))
    }

    /// Processes of this cgroup the kernel has OOM-killed so far: `oom_kill`
    /// in `memory.events` (v2) or `memory.oom_control` (v1, Linux 4.13 on).
    pub fn oom_kills(&self) -> Option<u64> {
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        stat_field(&fs::read_to_string(self.dir.join(file)).ok()?, "oom_kill")
    }
}

fn v1_limit(dir: &Path) -> Option<u64> {
    let own = read_u64(&dir.join("memory.limit_in_bytes"));
    let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
    let hierarchical = stat_field(&stat, "hierarchical_memory_limit");
    [own, hierarchical].into_iter().flatten().filter(|&l| l < UNLIMITED).min()
}

fn v2_limit(dir: &Path, root: &Path) -> Option<u64> {
    // memory.max is per level; the effective limit is the smallest on the
    // way up to the root we can see.
    let mut limit: Option<u64> = None;
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Some(l) = read_u64(&d.join("memory.max")).filter(|&l| l < UNLIMITED) {
            limit = Some(limit.map_or(l, |m| m.min(l)));
        }
        if d == root {
            break;
        }
        at = d.parent().filter(|p| p.starts_with(root));
    }
    limit
}

/// Reads a number from a cgroup file; `max` and garbage read as `None`.
fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Finds `key value` in a memory.stat text.
fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capkv-cgroup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn v1_limit_is_the_smaller_of_own_and_hierarchical() {
        let root = scratch("v1");
        let dir = root.join("memory/box/inner");
        write(&dir.join("memory.limit_in_bytes"), "9223372036854771712\n");
        write(&dir.join("memory.usage_in_bytes"), "5000\n");
        write(
            &dir.join("memory.stat"),
            "cache 1\nhierarchical_memory_limit 2147483648\ntotal_inactive_file 1000\n",
        );
        let cg = Cgroup::detect_from("12:cpu:/x\n4:memory:/box/inner\n0::/", &root).unwrap();
        assert_eq!(cg.version(), Version::V1);
        assert_eq!(cg.limit(), Some(2147483648));
        assert_eq!(cg.working_set(), Some(4000));
        assert_eq!(cg.charges().sockets, None, "v1 has no sock field");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_limit_walks_up_the_hierarchy() {
        let root = scratch("v2");
        let dir = root.join("kubepods/pod1/ctr");
        write(&dir.join("memory.max"), "max\n");
        write(&dir.join("memory.current"), "3000\n");
        write(&dir.join("memory.stat"), "anon 2000\ninactive_file 500\nsock 400\n");
        write(&root.join("kubepods/pod1/memory.max"), "1073741824\n");
        write(&root.join("kubepods/memory.max"), "4294967296\n");
        let cg = Cgroup::detect_from("0::/kubepods/pod1/ctr\n", &root).unwrap();
        assert_eq!(cg.version(), Version::V2);
        assert_eq!(cg.limit(), Some(1073741824));
        assert_eq!(cg.working_set(), Some(2500));
        assert_eq!(cg.charges(), Charges { working_set: Some(2500), sockets: Some(400) });
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn unlimited_and_namespaced_root() {
        let root = scratch("ns");
        write(&root.join("memory.max"), "max\n");
        write(&root.join("memory.current"), "10\n");
        // Inside a cgroup namespace the path is "/" but may also be stale.
        let cg = Cgroup::detect_from("0::/not/visible\n", &root).unwrap();
        assert_eq!(cg.limit(), None);
        assert_eq!(cg.working_set(), Some(10));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v1_at_an_explicit_directory() {
        let root = scratch("v1-at");
        let dir = root.join("memory/capkv-scenario");
        write(&dir.join("memory.limit_in_bytes"), "268435456\n");
        write(&dir.join("memory.usage_in_bytes"), "5000\n");
        write(&dir.join("memory.max_usage_in_bytes"), "7000\n");
        write(&dir.join("memory.stat"), "cache 1\ntotal_inactive_file 1000\n");
        write(&dir.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        let cg = Cgroup::at(&dir).unwrap();
        assert_eq!(cg.version(), Version::V1);
        assert_eq!(cg.dir(), dir.as_path());
        assert_eq!(cg.limit(), Some(268435456));
        assert_eq!(cg.usage(), Some(5000));
        assert_eq!(cg.working_set(), Some(4000));
        assert_eq!(cg.peak(), Some(7000));
        assert_eq!(cg.oom_kills(), Some(2));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_at_walks_up_through_cgroups_only() {
        let base = scratch("v2-at");
        // Not a cgroup (no cgroup.controllers): its memory.max is not a limit.
        write(&base.join("memory.max"), "1000\n");
        let root = base.join("fs");
        write(&root.join("cgroup.controllers"), "cpu memory\n");
        write(&root.join("box/cgroup.controllers"), "memory\n");
        write(&root.join("box/memory.max"), "1073741824\n");
        let dir = root.join("box/server");
        write(&dir.join("cgroup.controllers"), "memory\n");
        write(&dir.join("memory.max"), "max\n");
        write(&dir.join("memory.current"), "3000\n");
        write(&dir.join("memory.peak"), "4000\n");
        write(&dir.join("memory.stat"), "anon 2000\ninactive_file 500\n");
        write(
            &dir.join("memory.events"),
            "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        let cg = Cgroup::at(&dir).unwrap();
        assert_eq!(cg.version(), Version::V2);
        assert_eq!(cg.limit(), Some(1073741824));
        assert_eq!(cg.usage(), Some(3000));
        assert_eq!(cg.working_set(), Some(2500));
        assert_eq!(cg.peak(), Some(4000));
        assert_eq!(cg.oom_kills(), Some(1));
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn at_without_peak_events_or_a_cgroup() {
        let root = scratch("at-bare");
        write(&root.join("memory.current"), "10\n");
        let cg = Cgroup::at(&root).unwrap();
        assert_eq!((cg.limit(), cg.usage()), (None, Some(10)));
        // Kernels before 5.19 keep no memory.peak; no events file, no count.
        assert_eq!((cg.peak(), cg.oom_kills()), (None, None));
        assert!(Cgroup::at(&root.join("missing")).is_none());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn no_memory_cgroup() {
        assert!(Cgroup::detect_from("", Path::new("/nonexistent")).is_none());
    }
}
