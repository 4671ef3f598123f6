//! Ending the process from a fault path: the message is assembled in a
//! fixed buffer on the stack and written with `write(2)`, then the process
//! aborts (or, in the SIGBUS handler, takes the signal's default action).
//!
//! The callers run in the SIGBUS handler, which may have interrupted
//! anything (the allocator holding its lock, a `println!` holding stdout's),
//! and on collector threads that mutators wait for: so no allocation, no
//! lock and nothing that can panic. `core::fmt` writing into a fixed buffer
//! does none of these (it only calls the `Display` impls it is given, and
//! the ones used here write fields and static strings).

use std::fmt;

/// A message built on the stack; whatever does not fit is cut off (with
/// `...` at the end, so a reader knows).
pub(crate) struct Message {
    buf: [u8; Message::CAPACITY],
    len: usize,
    cut: bool,
}

impl Message {
    const CAPACITY: usize = 400;
    const CUT_MARK: &'static [u8] = b"...\n";

    /// An empty message.
    pub(crate) const fn new() -> Message {
        Message {
            buf: [0; Message::CAPACITY],
            len: 0,
            cut: false,
        }
    }

    /// `[gc] fatal: {args}` and a newline.
    pub(crate) fn fatal(args: fmt::Arguments<'_>) -> Message {
        let mut m = Message::new();
        // Writing to a `Message` never fails (it truncates).
        let _ = fmt::Write::write_str(&mut m, "[gc] fatal: ");
        let _ = fmt::Write::write_fmt(&mut m, args);
        let _ = fmt::Write::write_str(&mut m, "\n");
        m
    }

    /// The bytes to write.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the message to stderr with `write(2)`, retrying short writes
    /// and `EINTR`; gives up silently on any other error (there is nobody
    /// left to tell).
    pub(crate) fn write_to_stderr(&self) {
        let mut rest = self.as_bytes();
        while !rest.is_empty() {
            // SAFETY: write(2) of a valid buffer; async-signal-safe.
            let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => rest = &rest[n.min(rest.len())..],
                _ if nix::errno::Errno::last_raw() == libc::EINTR => {}
                _ => return,
            }
        }
    }
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        let room = Message::CAPACITY - Message::CUT_MARK.len() - self.len;
        let bytes = s.as_bytes();
        if bytes.len() <= room {
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            self.buf[self.len..self.len + room].copy_from_slice(&bytes[..room]);
            self.len += room;
            self.buf[self.len..self.len + Message::CUT_MARK.len()]
                .copy_from_slice(Message::CUT_MARK);
            self.len += Message::CUT_MARK.len();
            self.cut = true;
        }
        Ok(())
    }
}

/// Writes `[gc] fatal: {args}` to stderr and aborts (`SIGABRT`).
#[cold]
pub(crate) fn abort(args: fmt::Arguments<'_>) -> ! {
    Message::fatal(args).write_to_stderr();
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_allocating_and_cuts_long_messages() {
        let m = Message::fatal(format_args!(
            "UFFDIO_COPY at {:#x}: {:?}",
            0x7f00_1000usize,
            nix::errno::Errno::ENOMEM
        ));
        assert_eq!(
            m.as_bytes(),
            b"[gc] fatal: UFFDIO_COPY at 0x7f001000: ENOMEM\n"
        );
        let long = "x".repeat(1000);
        let m = Message::fatal(format_args!("{long}"));
        assert_eq!(m.as_bytes().len(), Message::CAPACITY);
        assert!(m.as_bytes().ends_with(b"xxx...\n"));
    }
}
