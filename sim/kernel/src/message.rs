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

/// A typed message between processes. The kernel reads `request` and the sizes; the body is
/// the processes' business, reached through [`Message::take`] or [`Message::body`].
///
/// Sizes: `bytes` is the body (what a hop that passes the message on passes on), `head` the
/// protocol head in front of it (an HTTP request or status line and headers). Unless the
/// message is `raw`, the kernel carries `head + bytes` over TCP: it adds a TCP/IP header per
/// segment for the path's MTU and the delayed ACKs that come back ([`crate::wire`]). A raw
/// message is a whole packet already (a SYN, a FIN, an RST): counted as it is.
pub struct Message {
    /// The request this message belongs to, if any (its hop is then recorded).
    pub request: Option<RequestId>,
    /// The body's size.
    pub bytes: u64,
    /// The protocol head's size (0: none).
    pub head: u64,
    /// A whole packet: no TCP framing added.
    pub raw: bool,
    body: Box<dyn Any + Send>,
}

impl Message {
    /// A message whose body is `bytes` long, part of `request` (if any), carrying `body`, sent
    /// over TCP.
    pub fn new<B: Any + Send>(request: Option<RequestId>, bytes: u64, body: B) -> Message {
        Message { request, bytes, head: 0, raw: false, body: Box::new(body) }
    }

    /// A whole packet of `bytes` (a TCP control segment), part of `request` (if any).
    pub fn raw<B: Any + Send>(request: Option<RequestId>, bytes: u64, body: B) -> Message {
        Message { request, bytes, head: 0, raw: true, body: Box::new(body) }
    }

    /// The same message with a protocol head of `head` bytes in front of its body.
    pub fn with_head(mut self, head: u64) -> Message {
        self.head = head;
        self
    }

    /// The bytes the sender's application writes: head and body (a raw packet's whole size).
    pub fn payload(&self) -> u64 {
        self.head + self.bytes
    }

    /// The body, if it is a `B`; otherwise the message, untouched.
    pub fn take<B: Any>(self) -> Result<B, Message> {
        let Message { request, bytes, head, raw, body } = self;
        match body.downcast::<B>() {
            Ok(b) => Ok(*b),
            Err(body) => Err(Message { request, bytes, head, raw, body }),
        }
    }

    /// A look at the body, if it is a `B`.
    pub fn body<B: Any>(&self) -> Option<&B> {
        self.body.downcast_ref()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message").field("request", &self.request).field("bytes", &self.bytes).field("head", &self.head).field("raw", &self.raw).finish()
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
