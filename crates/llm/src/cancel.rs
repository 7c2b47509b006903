//! Stopping generation when nobody waits for it any more (a client closed
//! its chat stream). A caller runs its LLM calls inside [`scope`] with a
//! flag; the providers check [`requested`] at every token (the local model)
//! or streamed chunk (a remote one) and stop with [`LlmError::Cancelled`],
//! which, like every LLM error, makes the stage fall back.
//!
//! The flag is per thread: an LLM call runs on the thread that asks for it
//! (the local model's worker only decodes, and is told to stop by its job's
//! own flag), so the scope covers every call the closure makes.
//!
//! [`LlmError::Cancelled`]: crate::LlmError::Cancelled

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static FLAG: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Runs `f` with `flag` as this thread's cancellation flag.
pub fn scope<T>(flag: Arc<AtomicBool>, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Arc<AtomicBool>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            FLAG.with(|s| *s.borrow_mut() = prev);
        }
    }
    let prev = FLAG.with(|s| s.borrow_mut().replace(flag));
    let _reset = Reset(prev);
    f()
}

/// Whether the current scope's flag is set.
pub fn requested() -> bool {
    FLAG.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_holds_inside_its_scope_only() {
        let flag = Arc::new(AtomicBool::new(false));
        assert!(!requested());
        scope(flag.clone(), || {
            assert!(!requested());
            flag.store(true, Ordering::Relaxed);
            assert!(requested());
        });
        assert!(!requested());
    }
}
