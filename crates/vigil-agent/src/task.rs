//! A spawned task that lives exactly as long as its owner: dropping the
//! guard aborts it. Leadership terms, Ingester sources, log followers and
//! secret or certificate reloads all end this way, so none outlives what
//! started it.

/// Aborts its task when dropped; `.0` is the handle (to await or inspect it).
#[derive(Debug)]
pub struct AbortOnDrop<T = ()>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_guard_aborts_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let guard = AbortOnDrop(tokio::spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        }));
        drop(guard);
        // The sender dies with the aborted task: the receiver sees it closed.
        assert!(rx.await.is_err());
    }
}
