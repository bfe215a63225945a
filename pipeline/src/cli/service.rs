//! `chorale serve`, `chorale tokens …` and `chorale audit list`: the service and who may use
//! it. The in-process CLI acts as the local user with the admin role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use url::Url;

use super::{
    BuildOptions, Global, Output, OutputArg, context, context_options, interrupted, json, print,
    run_request,
};
use crate::api::oidc::{self, OidcConfig, RoleMapping};
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
    /// OIDC bearer tokens, accepted besides Chorale's own when an issuer is given.
    #[command(flatten)]
    oidc: OidcArgs,
}

/// `chorale serve`'s OIDC options.
#[derive(Debug, Args)]
#[command(next_help_heading = "OIDC bearer tokens")]
struct OidcArgs {
    /// Accept the JWTs this issuer signs as bearer tokens: the `iss` they must carry, exactly
    /// (https://, or http:// on a loopback host). Needs --oidc-audience and --oidc-role.
    #[arg(
        long = "oidc-issuer",
        value_name = "URL",
        value_parser = oidc::parse_issuer,
        requires_all = ["audience", "roles"]
    )]
    issuer: Option<String>,
    /// The audience the tokens must be for: their `aud` must hold it.
    #[arg(
        long = "oidc-audience",
        value_name = "AUD",
        value_parser = NonEmptyStringValueParser::new(),
        requires = "issuer"
    )]
    audience: Option<String>,
    /// Where the issuer publishes its keys (JWKS) [default: the `jwks_uri` of
    /// ISSUER/.well-known/openid-configuration].
    #[arg(
        long = "oidc-jwks-url",
        value_name = "URL",
        value_parser = oidc::parse_url,
        requires = "issuer"
    )]
    jwks_url: Option<Url>,
    /// The claim whose values map to roles (a string or an array of strings).
    #[arg(
        long = "oidc-role-claim",
        value_name = "NAME",
        default_value = oidc::DEFAULT_ROLE_CLAIM,
        value_parser = NonEmptyStringValueParser::new(),
        requires = "issuer"
    )]
    role_claim: String,
    /// A value of the role claim and the role it gives, e.g. chorale-admins=admin
    /// (repeatable); a token has the highest role of its values, and none (403) when none
    /// is mapped.
    #[arg(
        long = "oidc-role",
        value_name = "VALUE=ROLE",
        value_parser = parse_role_mapping,
        requires = "issuer"
    )]
    roles: Vec<RoleMapping>,
}

impl OidcArgs {
    /// The OIDC configuration these options make, if any (no I/O).
    fn config(&self) -> Option<OidcConfig> {
        Some(OidcConfig {
            issuer: self.issuer.clone()?,
            audience: self.audience.clone()?,
            jwks_url: self.jwks_url.clone(),
            role_claim: self.role_claim.clone(),
            roles: self.roles.clone(),
        })
    }
}

fn parse_role_mapping(text: &str) -> Result<RoleMapping, String> {
    text.parse()
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
        oidc: args.oidc.config(),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// `chorale serve` with `line`; a refusal as clap prints it, with its exit code.
    fn serve(line: &[&str]) -> Result<ServeArgs, (i32, String)> {
        let cli = Cli::try_parse_from(["chorale", "serve"].iter().chain(line))
            .map_err(|error| (error.exit_code(), error.to_string()))?;
        match cli.command {
            Command::Serve(args) => Ok(*args),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn oidc_options_become_the_oidc_config_and_none_means_none() {
        assert_eq!(serve(&[]).unwrap().oidc.config(), None);
        let args = serve(&[
            "--oidc-issuer",
            "https://idp.example.com/realms/chorale",
            "--oidc-audience",
            "chorale",
            "--oidc-role",
            "chorale-admins=admin",
            "--oidc-role",
            "chorale-devs=developer",
        ])
        .unwrap();
        assert_eq!(
            args.oidc.config(),
            Some(OidcConfig {
                issuer: "https://idp.example.com/realms/chorale".to_owned(),
                audience: "chorale".to_owned(),
                jwks_url: None,
                role_claim: "groups".to_owned(),
                roles: vec![
                    RoleMapping {
                        value: "chorale-admins".to_owned(),
                        role: Role::Admin
                    },
                    RoleMapping {
                        value: "chorale-devs".to_owned(),
                        role: Role::Developer
                    },
                ],
            })
        );
        let args = serve(&[
            "--oidc-issuer",
            "http://127.0.0.1:9000",
            "--oidc-audience",
            "chorale",
            "--oidc-jwks-url",
            "http://127.0.0.1:9000/keys",
            "--oidc-role-claim",
            "roles",
            "--oidc-role",
            "reader=viewer",
        ])
        .unwrap();
        let config = args.oidc.config().unwrap();
        assert_eq!(
            config.jwks_url.map(String::from).as_deref(),
            Some("http://127.0.0.1:9000/keys")
        );
        assert_eq!(config.role_claim, "roles");
    }

    #[test]
    fn bad_oidc_options_are_usage_errors_that_name_the_option() {
        let issuer = ["--oidc-issuer", "https://idp.example.com"];
        let audience = ["--oidc-audience", "chorale"];
        let role = ["--oidc-role", "admins=admin"];
        for (line, option, expected) in [
            ([&issuer[..], &role].concat(), "--oidc-audience", "required"),
            ([&issuer[..], &audience].concat(), "--oidc-role", "required"),
            (audience.to_vec(), "--oidc-issuer", "required"),
            (
                vec!["--oidc-role-claim", "roles"],
                "--oidc-issuer",
                "required",
            ),
            (
                [
                    &["--oidc-issuer", "http://idp.example.com"][..],
                    &audience,
                    &role,
                ]
                .concat(),
                "--oidc-issuer",
                "not an https:// URL",
            ),
            (
                [&issuer[..], &audience, &["--oidc-role", "admins"]].concat(),
                "--oidc-role",
                "is not VALUE=ROLE",
            ),
            (
                [&issuer[..], &audience, &["--oidc-role", "admins=root"]].concat(),
                "--oidc-role",
                "unknown role `root`",
            ),
            (
                [&issuer[..], &["--oidc-audience", ""], &role].concat(),
                "--oidc-audience",
                "",
            ),
            (
                [
                    &issuer[..],
                    &audience,
                    &role,
                    &["--oidc-jwks-url", "keys.json"],
                ]
                .concat(),
                "--oidc-jwks-url",
                "is not a URL",
            ),
        ] {
            let (code, error) = serve(&line).map(|_| ()).unwrap_err();
            assert_eq!(code, crate::errors::exit::USAGE, "{line:?}: {error}");
            assert!(
                error.contains(option) && error.contains(expected),
                "{line:?}: {error}"
            );
        }
    }
}
