//! The welcome mail (lettre), and where it goes: `.eml` files in an outbox directory, or an SMTP
//! server (`SMTP_URL`, plain SMTP: the examples are built without TLS).
//!
//! The transport is chosen once at startup ([`Mailer::from_env`]) and given to the host
//! (`HostBuilder::state`): background tasks cannot borrow from the request (or from `main`), so
//! they take it as a `qbwi::State<Mailer>` argument, which the host passes to each run.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use qbwi::CancellationToken;

use super::{AppError, env_var};

/// The sender of every welcome mail.
const FROM: &str = "qbwi demo <welcome@example.com>";

/// The subject of every welcome mail.
const SUBJECT: &str = "Welcome to qbwi";

/// Where the welcome mails go: the state the mail tasks share (`qbwi::State<Mailer>`).
pub struct Mailer(Transport);

/// The transport a [`Mailer`] sends through.
enum Transport {
    /// `.eml` files in a directory.
    Outbox {
        /// The directory, for the log.
        dir: PathBuf,
        /// lettre's file transport on tokio.
        transport: AsyncFileTransport<Tokio1Executor>,
    },
    /// An SMTP server, without TLS.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// Chooses the transport from the environment and logs it: SMTP when `SMTP_URL` is set,
    /// else the outbox directory (`OUTBOX_DIR` or `./outbox`), created if missing.
    pub async fn from_env() -> Result<Mailer, AppError> {
        let mailer = Self::choose().await?;
        tracing::info!(transport = %mailer.describe(), "mail transport chosen");
        Ok(mailer)
    }

    /// Sends the welcome mail to `to`; a cancelled `ct` stops the send at once (the message is
    /// dropped half-sent, and the error says why).
    pub async fn send_welcome_mail(
        &self,
        to: Address,
        ct: &CancellationToken,
    ) -> Result<(), MailError> {
        let message = welcome_mail(to)?;
        tokio::select! {
            _ = ct.cancelled() => Err(MailError::Cancelled),
            sent = self.send(message) => sent,
        }
    }

    /// SMTP when `SMTP_URL` is set, else the outbox directory, created if missing.
    async fn choose() -> Result<Mailer, AppError> {
        if let Some(url) = env_var("SMTP_URL")? {
            return Ok(Mailer(Transport::Smtp(smtp_transport(&url)?)));
        }
        let dir = PathBuf::from(env_var("OUTBOX_DIR")?.unwrap_or_else(|| "outbox".to_owned()));
        tokio::fs::create_dir_all(&dir).await.map_err(|error| {
            format!(
                "cannot create the outbox directory `{}`: {error}; set OUTBOX_DIR to a writable \
                 directory",
                dir.display()
            )
        })?;
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Ok(Mailer(Transport::Outbox {
            transport: AsyncFileTransport::new(&dir),
            dir,
        }))
    }

    /// For the log: where mails go.
    fn describe(&self) -> String {
        match &self.0 {
            Transport::Outbox { dir, .. } => format!(".eml files in {}", dir.display()),
            Transport::Smtp(_) => "SMTP (SMTP_URL)".to_owned(),
        }
    }

    /// Hands the message to the transport.
    async fn send(&self, message: Message) -> Result<(), MailError> {
        match &self.0 {
            Transport::Outbox { transport, .. } => {
                transport.send(message).await.map_err(MailError::Outbox)?;
            }
            Transport::Smtp(transport) => {
                transport.send(message).await.map_err(MailError::Smtp)?;
            }
        }
        Ok(())
    }
}

/// Why a welcome mail was not sent. The host logs and counts it as a failed task.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message could not be put together.
    #[error("cannot build the welcome mail: {0}")]
    Build(String),
    /// Writing the `.eml` file failed.
    #[error("cannot write the mail to the outbox: {0}")]
    Outbox(lettre::transport::file::Error),
    /// The SMTP server could not be reached or refused the mail.
    #[error("cannot send the mail over SMTP: {0}")]
    Smtp(lettre::transport::smtp::Error),
    /// The host began shutting down before the mail went out.
    #[error("not sent: the host is shutting down")]
    Cancelled,
}

/// The welcome mail: a short text and a generated `welcome.txt` attachment.
fn welcome_mail(to: Address) -> Result<Message, MailError> {
    let from: Mailbox = FROM
        .parse()
        .map_err(|error| MailError::Build(format!("bad sender `{FROM}`: {error}")))?;
    let signed_up = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let card = format!(
        "Welcome aboard, {to}!\n\n\
         Your account was created at {signed_up} (seconds since 1970).\n\
         This file was generated by a qbwi background task after the sign-up request had \
         already been answered.\n"
    );
    Message::builder()
        .from(from)
        .to(Mailbox::new(None, to))
        .subject(SUBJECT)
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(
                    "Thanks for signing up! Your welcome card is attached.\n".to_owned(),
                ))
                .singlepart(
                    Attachment::new("welcome.txt".to_owned()).body(card, ContentType::TEXT_PLAIN),
                ),
        )
        .map_err(|error| MailError::Build(error.to_string()))
}

/// A plain-SMTP transport for `smtp://host[:port]` (port 25 by default).
///
/// lettre's own `from_url` needs one of its TLS features, which the examples leave out to build
/// fast; a URL that asks for TLS or credentials (which must not cross the network in clear text)
/// is refused with a message that says so. The URL is not repeated in errors: it may hold a
/// password.
fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, AppError> {
    let usage = "SMTP_URL must look like `smtp://host:port`";
    let rest = url.trim().strip_prefix("smtp://").ok_or_else(|| {
        format!("{usage}: other schemes (such as smtps://) need TLS, which this example is built without")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.contains(['@', '?', '/']) {
        return Err(format!(
            "{usage}: credentials, paths and parameters such as `?tls=` are not supported over \
             plain SMTP"
        )
        .into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 address without a port, such as `[::1]`, has colons but ends with `]`.
        Some((host, port)) if !port.ends_with(']') => {
            let port = port
                .parse::<u16>()
                .map_err(|error| format!("{usage}: bad port `{port}`: {error}"))?;
            (host, port)
        }
        _ => (authority, lettre::transport::smtp::SMTP_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{usage}: the host is missing").into());
    }
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(20)))
            .build(),
    )
}
