//! A fake SMTP server for the examples' tests: it takes mails on any number of connections, and
//! can hold some unanswered, so that the example is mid-send for as long as a test likes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::is_welcome_mail;

/// A mail the fake SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The `MAIL FROM` and `RCPT TO` commands.
    pub envelope: Vec<String>,
    /// The message, as sent after `DATA`.
    pub message: String,
}

impl Mail {
    /// Is this the welcome mail to `to`, by envelope and content?
    pub fn welcomes(&self, to: &str) -> bool {
        self.envelope
            .iter()
            .any(|line| line.contains(&format!("<{to}>")))
            && is_welcome_mail(&self.message, to)
    }
}

/// An SMTP server on 127.0.0.1 that speaks just enough SMTP to take mails, on any number of
/// connections, and keeps them. With [`hold_after`](Self::hold_after), it stops answering the
/// end of a message once it has accepted that many: the sender waits for a reply that never
/// comes, that is, it is mid-send for as long as the test likes.
pub struct FakeSmtp {
    port: u16,
    state: Arc<Mutex<SmtpState>>,
    server: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct SmtpState {
    accepted: Vec<Mail>,
    /// Messages received in full and never answered.
    held: usize,
    /// Accept at most this many; hold the rest.
    limit: Option<usize>,
    /// How long to wait before answering the end of a message: a slow server.
    answer_delay: std::time::Duration,
    /// Messages received in full, answered or not yet.
    received: usize,
}

impl FakeSmtp {
    /// Starts the server on a free port; it accepts every mail.
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the fake SMTP server");
        let port = listener.local_addr().expect("a bound address").port();
        let state = Arc::new(Mutex::new(SmtpState::default()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        FakeSmtp {
            port,
            state,
            server,
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// From now on, accept mails until `limit` are accepted in all, and hold the rest; `None`:
    /// accept every mail again. Mails held so far stay unanswered: their senders are meant to
    /// die waiting.
    pub fn hold_after(&self, limit: Option<usize>) {
        self.state().limit = limit;
    }

    /// From now on, answer the end of each message only after `delay`: the sender is mid-send
    /// for that long, then succeeds.
    pub fn answer_after(&self, delay: std::time::Duration) {
        self.state().answer_delay = delay;
    }

    /// How many messages were received in full so far (answered, held, or being answered).
    pub fn received(&self) -> usize {
        self.state().received
    }

    /// The mails accepted so far.
    pub fn accepted(&self) -> Vec<Mail> {
        self.state().accepted.clone()
    }

    /// How many messages were received in full and never answered.
    pub fn held(&self) -> usize {
        self.state().held
    }

    fn state(&self) -> MutexGuard<'_, SmtpState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One SMTP connection: any number of mails, until `QUIT` or the client goes away.
async fn session(stream: TcpStream, state: Arc<Mutex<SmtpState>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut envelope = Vec::new();
    let mut message = String::new();
    let mut in_data = false;
    write.write_all(b"220 fake.test ESMTP ready\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line != "." {
                message.push_str(&line);
                message.push('\n');
                continue;
            }
            in_data = false;
            let mail = Mail {
                envelope: std::mem::take(&mut envelope),
                message: std::mem::take(&mut message),
            };
            let (accepted, delay) = {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.received += 1;
                let accepted = if state
                    .limit
                    .is_some_and(|limit| state.accepted.len() >= limit)
                {
                    state.held += 1;
                    false
                } else {
                    state.accepted.push(mail);
                    true
                };
                (accepted, state.answer_delay)
            };
            if !accepted {
                // No answer, ever: read until the client gives up or dies.
                while lines.next_line().await?.is_some() {}
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            write.write_all(b"250 2.0.0 queued\r\n").await?;
            continue;
        }
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 fake.test\r\n",
            "MAIL" | "RCPT" => {
                envelope.push(line.clone());
                b"250 2.1.0 ok\r\n"
            }
            "RSET" => {
                envelope.clear();
                b"250 2.0.0 ok\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "DATA" => {
                in_data = true;
                b"354 end data with <CR><LF>.<CR><LF>\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                break;
            }
            _ => b"502 5.5.2 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
