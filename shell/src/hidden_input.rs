//! Reading a password or PIN at the terminal without echo.
//!
//! The terminal is switched to non-canonical mode with echo and signals off,
//! so Ctrl-C arrives as a byte instead of a SIGINT that would end the shell.
//! Ctrl-C cancels the entry. A guard restores the terminal's settings on
//! return and on panic.

use std::fs::File;
use std::io::{Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use zeroize::Zeroizing;

/// The reason a hidden entry returned no secret.
#[derive(Debug)]
pub enum HiddenInputError {
    /// The user pressed Ctrl-C, or Ctrl-D at an empty entry.
    Cancelled,
    /// The terminal could not be opened, set up or read, or the entry is not UTF-8.
    Io(std::io::Error),
}

impl From<std::io::Error> for HiddenInputError {
    fn from(error: std::io::Error) -> Self {
        HiddenInputError::Io(error)
    }
}

impl From<nix::Error> for HiddenInputError {
    fn from(error: nix::Error) -> Self {
        HiddenInputError::Io(error.into())
    }
}

/// Writes `prompt` to the controlling terminal (`/dev/tty`) and reads one
/// line from it without echo.
///
/// # Errors
///
/// [`HiddenInputError::Cancelled`] for Ctrl-C, or Ctrl-D at an empty entry;
/// [`HiddenInputError::Io`] when the terminal cannot be used.
pub fn read_hidden_line(prompt: &str) -> Result<Zeroizing<String>, HiddenInputError> {
    let tty = File::options().read(true).write(true).open("/dev/tty")?;
    read_hidden_line_from(&tty, prompt)
}

/// Reads a hidden line from the terminal `tty`, as [`read_hidden_line`].
fn read_hidden_line_from(tty: &File, prompt: &str) -> Result<Zeroizing<String>, HiddenInputError> {
    let original = termios::tcgetattr(tty)?;
    let keys = Keys::of(&original);

    let mut hidden = original.clone();
    hidden
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
    hidden.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    hidden.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(tty, SetArg::TCSANOW, &hidden)?;
    let restore = RestoreOnDrop { tty, original };

    let mut output = tty;
    output.write_all(prompt.as_bytes())?;
    output.flush()?;

    let entered = read_entry(tty, &keys);
    // Enter was not echoed, so end the prompt's line here in every case.
    let _ = output.write_all(b"\n");
    drop(restore);

    let bytes = entered?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|e| {
            let mut rejected = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut rejected);
            HiddenInputError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the entry is not valid UTF-8",
            ))
        })
}

/// The editing keys of the terminal, as `stty` shows them.
struct Keys {
    interrupt: u8,
    end_of_file: u8,
    erase: u8,
    kill: u8,
}

impl Keys {
    fn of(settings: &Termios) -> Keys {
        let key = |index: SpecialCharacterIndices| settings.control_chars[index as usize];
        Keys {
            interrupt: key(SpecialCharacterIndices::VINTR),
            end_of_file: key(SpecialCharacterIndices::VEOF),
            erase: key(SpecialCharacterIndices::VERASE),
            kill: key(SpecialCharacterIndices::VKILL),
        }
    }
}

/// Reads bytes up to Enter, applying the erase and kill keys.
fn read_entry(mut tty: &File, keys: &Keys) -> Result<Zeroizing<Vec<u8>>, HiddenInputError> {
    // Reserved up front, so that an entry of up to 1024 bytes never moves,
    // which would leave a copy of the secret in freed memory.
    let mut entry = Zeroizing::new(Vec::with_capacity(1024));
    let mut byte = [0_u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) => {
                return Err(HiddenInputError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the terminal closed",
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        let key = byte[0];
        match key {
            b'\n' | b'\r' => return Ok(entry),
            _ if key == keys.interrupt => return Err(HiddenInputError::Cancelled),
            _ if key == keys.end_of_file && entry.is_empty() => {
                return Err(HiddenInputError::Cancelled)
            }
            _ if key == keys.end_of_file => {}
            _ if key == keys.erase || key == 0x08 => erase_last_character(&mut entry),
            _ if key == keys.kill => entry.clear(),
            _ => entry.push(key),
        }
    }
}

/// Removes the last UTF-8 character: its continuation bytes and its first byte.
fn erase_last_character(entry: &mut Vec<u8>) {
    while let Some(last) = entry.pop() {
        let is_continuation = last & 0b1100_0000 == 0b1000_0000;
        if !is_continuation {
            break;
        }
    }
}

/// Restores the terminal's settings when dropped.
struct RestoreOnDrop<'a> {
    tty: &'a File,
    original: Termios,
}

impl Drop for RestoreOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(e) = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.original) {
            // Shown even without -v, because the terminal may no longer echo.
            eprintln!("warning: failed to restore the terminal settings after a password prompt: {e}; run `stty sane`");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use nix::pty::openpty;
    use std::thread::JoinHandle;

    const PROMPT: &str = "PIN: ";

    /// Opens a pseudo-terminal and returns its controlling side and its terminal side.
    fn terminal() -> (File, File) {
        let pty = openpty(None, None).unwrap();
        (File::from(pty.master), File::from(pty.slave))
    }

    /// Types `keys` once the prompt is shown, as a person would, because keys
    /// typed before the terminal leaves canonical mode are edited by the
    /// terminal itself. Returns the controlling side, which keeps the
    /// terminal open, and what the terminal showed up to the next newline.
    fn type_after_prompt(mut controller: File, keys: &'static [u8]) -> JoinHandle<(File, String)> {
        std::thread::spawn(move || {
            let mut shown = Vec::new();
            let mut byte = [0_u8; 1];
            while !shown.ends_with(PROMPT.as_bytes()) {
                controller.read_exact(&mut byte).unwrap();
                shown.push(byte[0]);
            }
            controller.write_all(keys).unwrap();
            while !shown.ends_with(b"\n") {
                controller.read_exact(&mut byte).unwrap();
                shown.push(byte[0]);
            }
            (controller, String::from_utf8_lossy(&shown).into_owned())
        })
    }

    #[test]
    fn entry_is_read_without_echo() {
        let (controller, tty) = terminal();
        let typing = type_after_prompt(controller, b"s3cret\x7fT\n");

        let secret = read_hidden_line_from(&tty, PROMPT).unwrap();

        assert_eq!(secret.as_str(), "s3creT");
        let (_controller, shown) = typing.join().unwrap();
        assert!(!shown.contains("s3cre"), "the entry was echoed: {shown:?}");
    }

    #[test]
    fn ctrl_c_cancels_and_restores_terminal() {
        let (controller, tty) = terminal();
        let before = termios::tcgetattr(&tty).unwrap();
        let typing = type_after_prompt(controller, b"half\x03");

        let result = read_hidden_line_from(&tty, PROMPT);

        assert!(matches!(result, Err(HiddenInputError::Cancelled)));
        let (_controller, shown) = typing.join().unwrap();
        let after = termios::tcgetattr(&tty).unwrap();
        assert!(after.local_flags.contains(LocalFlags::ECHO));
        assert_eq!(after.local_flags, before.local_flags);
        assert!(!shown.contains("half"), "the entry was echoed: {shown:?}");
    }

    #[test]
    fn ctrl_d_at_empty_entry_cancels() {
        let (controller, tty) = terminal();
        let typing = type_after_prompt(controller, b"\x04");

        let result = read_hidden_line_from(&tty, PROMPT);

        assert!(matches!(result, Err(HiddenInputError::Cancelled)));
        typing.join().unwrap();
    }

    #[test]
    fn erase_removes_whole_character() {
        let mut entry = "a\u{e9}".as_bytes().to_vec();
        erase_last_character(&mut entry);
        assert_eq!(entry, b"a");
    }
}
