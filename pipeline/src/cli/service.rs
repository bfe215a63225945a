//! `chorale serve`, `chorale tokens …` and `chorale audit list`: the service and who may use
//! it. The in-process CLI acts as the local user with the admin role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use secrecy::ExposeSecret;

use super::{
    BuildOptions, Global, Output, OutputArg, context, context_options, interrupted, json, print,
    run_request,
};
use crate::errors::Error;
use crate::ops::access::{self, CreateToken, parse_lifetime};
use crate::resources::access::{
    AuditEvent, AuditEventList, CreatedTokenDocument, Identity, Role, TokenList,
};
use crate::service::ServiceConfig;

/// `chorale serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Builds run at once at most.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// After SIGTERM, how long running builds may go on before they are interrupted (their
    /// clusters torn down).
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    grace: Duration,
    /// Every build the server runs uses these options.
    #[command(flatten)]
    build: BuildOptions,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token and print its secret (shown this once; only a hash is kept).
    Create {
        /// A unique name: lower-case letters, digits and `-`.
        #[arg(long)]
        name: String,
        /// viewer, developer, release-manager or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// How long it works, e.g. 90d (default: until revoked).
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<Duration>,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Every token: name, role, maker, creation, expiry, revocation (never a secret).
    List {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest audit events first: who changed what, and every refused attempt.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        output: OutputArg,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

/// Run the service until SIGINT or SIGTERM.
pub async fn serve(global: &Global, args: &ServeArgs) -> Result<(), Error> {
    let context = context(global).await?;
    if args.workers == 0 {
        return Err(Error::Invalid("--workers must be at least 1".to_owned()));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", args.listen)))?;
    let config = ServiceConfig {
        workers: args.workers,
        grace: args.grace,
        defaults: run_request(global, &args.build, PathBuf::new(), "api"),
        open: context_options(global),
    };
    let stop = interrupted();
    eprintln!("chorale serve: listening on http://{address}");
    crate::service::serve(context, config, listener, stop).await
}

/// `chorale tokens …`.
pub async fn tokens(global: &Global, command: TokensCommand) -> Result<(), Error> {
    let context = context(global).await?;
    let local = Identity::local();
    match command {
        TokensCommand::Create {
            name,
            role,
            expires,
            output,
        } => {
            let request = CreateToken {
                name: name.clone(),
                role,
                expires_in: expires,
            };
            let audit = AuditEvent::new(&local, "tokens.create", format!("tokens/{name}"));
            let created = access::create_token(&context.store, &local, &request, audit).await?;
            print(&match output.output {
                Output::Json => json(&CreatedTokenDocument {
                    token: created.token.clone(),
                    secret: created.secret.expose_secret().to_owned(),
                }),
                Output::Text => format!(
                    "{}\n# token `{}` ({}): the secret above is shown only now; keep it in a secret store",
                    created.secret.expose_secret(),
                    created.token.name,
                    created.token.role
                ),
            });
        }
        TokensCommand::List { output } => {
            let tokens = access::list_tokens(&context.store, &local).await?;
            print(&match output.output {
                Output::Json => json(&TokenList::new(tokens.clone(), None)),
                Output::Text => super::render::tokens(&tokens),
            });
        }
        TokensCommand::Revoke { name } => {
            let audit = AuditEvent::new(&local, "tokens.revoke", format!("tokens/{name}"));
            access::revoke_token(&context.store, &local, &name, audit).await?;
            print(&format!("token `{name}` revoked"));
        }
    }
    Ok(())
}

/// `chorale audit list`.
pub async fn audit(global: &Global, command: AuditCommand) -> Result<(), Error> {
    let context = context(global).await?;
    let AuditCommand::List { limit, output } = command;
    let events = access::audit_events(&context.store, &Identity::local(), limit, None).await?;
    print(&match output.output {
        Output::Json => json(&AuditEventList::new(events.clone(), None)),
        Output::Text => super::render::audit(&events),
    });
    Ok(())
}
