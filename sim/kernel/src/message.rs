//! What the message path carries between processes.
//!
//! The kernel stays ignorant of what processes say, so a message's body is type-erased here:
//! the fakes' vocabulary is one enum in the fakes crate, the kernel's own tests send their own
//! types, and neither has to be named in the kernel. We chose this over making the kernel
//! generic over a message type (`Core<M>`, `Sim<M>`, `Cx<'_, M>`, `dyn Process<M>`), which would
//! be checked by the compiler end to end but would thread a type parameter through the driver,
//! the seam and every harness signature for one downcast per delivery. Instead there is one
//! typed conversion point: a sender builds a [`Message`] with [`Message::new`], and a receiver
//! turns it back into its vocabulary with [`Message::take`] once, then `match`es.

use std::any::Any;

use crate::history::RequestId;

/// A typed message between processes. The kernel reads only `request` and `bytes`; the body is
/// the processes' business, reached through [`Message::take`] or [`Message::body`].
pub struct Message {
    /// The request this message belongs to, if any (its hop is then recorded).
    pub request: Option<RequestId>,
    /// Payload size on the wire: what is counted and charged.
    pub bytes: u64,
    body: Box<dyn Any + Send>,
}

impl Message {
    /// A message of `bytes` on the wire, part of `request` (if any), carrying `body`.
    pub fn new<B: Any + Send>(request: Option<RequestId>, bytes: u64, body: B) -> Message {
        Message { request, bytes, body: Box::new(body) }
    }

    /// The body, if it is a `B`; otherwise the message, untouched.
    pub fn take<B: Any>(self) -> Result<B, Message> {
        let Message { request, bytes, body } = self;
        match body.downcast::<B>() {
            Ok(b) => Ok(*b),
            Err(body) => Err(Message { request, bytes, body }),
        }
    }

    /// A look at the body, if it is a `B`.
    pub fn body<B: Any>(&self) -> Option<&B> {
        self.body.downcast_ref()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message").field("request", &self.request).field("bytes", &self.bytes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_gives_the_body_back_or_the_message() {
        let msg = Message::new(Some(RequestId(7)), 42, String::from("hello"));
        let msg = msg.take::<u32>().expect_err("not a u32");
        assert_eq!((msg.request, msg.bytes), (Some(RequestId(7)), 42), "a failed take keeps the message whole");
        assert_eq!(msg.body::<String>().map(String::as_str), Some("hello"));
        assert_eq!(msg.take::<String>().expect("a String"), "hello");
    }
}
