//! A spinner on standard error for operations that take seconds (RSA key
//! generation, issuing a batch). It is drawn only when standard error is a
//! terminal, so scripts and their captured output stay clean.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
const FRAME_INTERVAL: Duration = Duration::from_millis(120);

/// A running spinner; it clears its line when dropped.
pub struct Spinner {
    state: Option<Running>,
}

/// The drawing thread and what it shares with the spinner.
struct Running {
    done: Arc<AtomicBool>,
    message: Arc<Mutex<String>>,
    thread: JoinHandle<()>,
}

impl Spinner {
    /// Starts a spinner showing `message`, if standard error is a terminal.
    pub fn start(message: impl Into<String>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner { state: None };
        }

        let done = Arc::new(AtomicBool::new(false));
        let message = Arc::new(Mutex::new(message.into()));
        let thread_done = Arc::clone(&done);
        let thread_message = Arc::clone(&message);
        let spawned = std::thread::Builder::new()
            .name("certa-spinner".to_owned())
            .spawn(move || spin(&thread_done, &thread_message));
        match spawned {
            Ok(thread) => Spinner {
                state: Some(Running {
                    done,
                    message,
                    thread,
                }),
            },
            // Progress is a courtesy; the operation goes on without it.
            Err(_) => Spinner { state: None },
        }
    }

    /// Replaces the message, as in "issuing request 3 of 10".
    pub fn set_message(&self, text: impl Into<String>) {
        if let Some(running) = &self.state {
            let mut current = running
                .message
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *current = text.into();
        }
    }
}

fn spin(done: &AtomicBool, message: &Mutex<String>) {
    let mut frame = 0;
    while !done.load(Ordering::Relaxed) {
        let text = message
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K{} {text}", FRAMES[frame % FRAMES.len()]);
        let _ = stderr.flush();
        drop(stderr);
        frame += 1;
        std::thread::sleep(FRAME_INTERVAL);
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(running) = self.state.take() {
            running.done.store(true, Ordering::Relaxed);
            let _ = running.thread.join();
        }
    }
}
