"""An SMTP server for tests: aiosmtpd on 127.0.0.1, port chosen by the OS.

Each message is stored as N.eml (raw) and N.json (envelope and the parsed message), written
atomically. Prints "READY <port>" once it accepts connections.

  python3 smtp_sink.py DIR [--login USER --password PASS] [--cert CERT --key KEY]
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--login")
    parser.add_argument("--password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    counter = itertools.count(1)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            n = next(counter)
            raw = envelope.original_content or envelope.content
            message = email.message_from_bytes(raw, policy=email.policy.default)
            parts = [
                {"contentType": part.get_content_type(), "content": part.get_content()}
                for part in message.walk()
                if not part.is_multipart()
            ]
            record = {
                "mailFrom": envelope.mail_from,
                "rcptTos": envelope.rcpt_tos,
                "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
                "tls": session.ssl is not None,
                "subject": str(message["subject"]),
                "from": str(message["from"]),
                "to": str(message["to"]),
                "contentType": message.get_content_type(),
                "parts": parts,
            }
            for name, data in ((f"{n:04}.eml", raw), (f"{n:04}.json", json.dumps(record).encode())):
                tmp = os.path.join(args.dir, name + ".tmp")
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, os.path.join(args.dir, name))
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.login
            and auth_data.password.decode() == args.password
        )
        # handled=False lets aiosmtpd answer "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    def factory():
        return SMTP(
            Handler(),
            hostname="sink.test",
            authenticator=authenticator if args.login else None,
            auth_required=bool(args.login),
            # Plain AUTH is allowed without TLS only because the sink listens on loopback.
            auth_require_tls=tls_context is not None,
            tls_context=tls_context,
            require_starttls=tls_context is not None,
        )

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
