# meterd — tests/engine/events/smtp_sink.py
#
# A recording handler for aiosmtpd (Debian package python3-aiosmtpd), the real SMTP server the
# email tests run:
#
#   PYTHONPATH=tests/engine/events /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT \
#       -c smtp_sink.Sink DIR
#
# Every accepted message becomes DIR/msg-<pid>-<n>.json: {"mail_from", "rcpt_tos", "data"}
# (data: the message as received, dot-unstuffed), written to a temporary name and renamed so
# that a reader never sees half a file. While DIR/reject-all exists every RCPT TO is answered
# 451 (a relay that is temporarily failing); DIR/reject-<address> does that for one address.
import json
import os


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the directory for messages")
        return cls(args[0])

    def _rejects(self, address):
        return os.path.exists(os.path.join(self.directory, "reject-all")) or os.path.exists(
            os.path.join(self.directory, "reject-" + address))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self._rejects(address):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", "replace"),
        }
        name = "msg-%d-%06d" % (os.getpid(), self.count)
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, name + ".json"))
        return "250 2.0.0 Message accepted for delivery"
