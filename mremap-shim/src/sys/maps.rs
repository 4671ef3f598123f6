//! A parser for `/proc/self/maps`.
//!
//! Each line is `start-end perms offset major:minor inode [path]`; the path
//! may contain spaces (and ` (deleted)`), so it is everything after the
//! inode with leading blanks trimmed.

use nix::errno::Errno;

use super::error::{SysError, SysOp};

/// The permission column: `r`, `w`, `x`, and `s` (shared) or `p` (private).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// `s`: `VM_MAYSHARE` (a shared mapping); `p` otherwise.
    pub shared: bool,
}

/// One line of `/proc/self/maps` (one VMA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsEntry {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Permissions.
    pub perms: Perms,
    /// File offset in bytes (`vm_pgoff << PAGE_SHIFT`; for anonymous VMAs
    /// the kernel shows the pgoff it keeps, usually the start address).
    pub offset: u64,
    /// Device (major, minor).
    pub dev: (u32, u32),
    /// Inode (0 for anonymous memory).
    pub inode: u64,
    /// Path or pseudo-path (`[heap]`, `/memfd:name (deleted)`), empty if none.
    pub path: String,
}

impl MapsEntry {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the entry is empty (never, for a real VMA).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Read and parse `/proc/self/maps`.
pub fn read_maps() -> Result<Vec<MapsEntry>, SysError> {
    let text = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| SysError::from_io(SysOp::ReadMaps, &e))?;
    parse_maps(&text)
}

/// Parse the text of a maps file; a malformed line gives EINVAL.
pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>, SysError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line(l).ok_or(SysError::new(SysOp::ReadMaps, Errno::EINVAL)))
        .collect()
}

/// Split off the next blank-separated field.
fn field(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start_matches(' ');
    if rest.is_empty() {
        return None;
    }
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

fn parse_line(line: &str) -> Option<MapsEntry> {
    let (range, rest) = field(line)?;
    let (perms, rest) = field(rest)?;
    let (offset, rest) = field(rest)?;
    let (dev, rest) = field(rest)?;
    let (inode, rest) = field(rest)?;
    let (start, end) = range.split_once('-')?;
    let (major, minor) = dev.split_once(':')?;
    let p = perms.as_bytes();
    if p.len() != 4 {
        return None;
    }
    Some(MapsEntry {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        perms: Perms {
            read: p[0] == b'r',
            write: p[1] == b'w',
            exec: p[2] == b'x',
            shared: p[3] == b's',
        },
        offset: u64::from_str_radix(offset, 16).ok()?,
        dev: (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        inode: inode.parse().ok()?,
        path: rest.trim_start_matches(' ').to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_anonymous_file_and_spaced_paths() {
        let text = "\
7f00aa000000-7f00aa021000 rw-p 00000000 00:00 0 \n\
7f00ab000000-7f00ab004000 rw-s 00002000 00:01 4242                       /memfd:gc heap (deleted)\n\
7ffd1000-7ffd2000 r-xp 00000000 fd:01 17 [vdso]\n";
        let maps = parse_maps(text).unwrap();
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].start, 0x7f00_aa00_0000);
        assert!(maps[0].perms.write && !maps[0].perms.shared);
        assert_eq!(maps[0].path, "");
        assert_eq!(maps[1].offset, 0x2000);
        assert_eq!(maps[1].inode, 4242);
        assert!(maps[1].perms.shared);
        assert_eq!(maps[1].path, "/memfd:gc heap (deleted)");
        assert_eq!(maps[2].dev, (0xfd, 1));
        assert!(maps[2].perms.exec);
    }

    #[test]
    fn malformed_line_is_einval() {
        assert_eq!(parse_maps("zzz").unwrap_err().errno, Errno::EINVAL);
    }

    #[test]
    fn own_maps_contain_a_fresh_mapping() {
        let p = crate::sys::page_size();
        let a = crate::sys::mmap_anon(
            0,
            3 * p,
            crate::sys::ProtFlags::PROT_READ,
            crate::sys::MapFlags::MAP_PRIVATE,
        )
        .unwrap();
        let maps = read_maps().unwrap();
        let hit = maps
            .iter()
            .find(|m| m.start <= a as u64 && (a as u64) < m.end)
            .expect("fresh mapping listed");
        assert!(hit.perms.read && !hit.perms.write);
        crate::sys::munmap(a, 3 * p).unwrap();
    }
}
