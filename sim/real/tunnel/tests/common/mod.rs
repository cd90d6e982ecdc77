//! Helpers shared by the loopback and process tests.

/// An mpsc receiver as a body stream (`StreamBody`): a backend sends chunks when it likes.
pub struct Chunks<T>(pub tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for Chunks<T> {
    type Item = T;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
