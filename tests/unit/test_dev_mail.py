"""The development mail server ``make run`` starts: each message it receives is a file."""
import os
import smtplib
from email.message import EmailMessage

from devtools import mail
from tests.mailbox import free_port
from tests.service.conftest import wait_until


def message(to="owner@shop.example"):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "VowRewards <no-reply@vow.example>", to, "Your code"
    msg.set_content("4821 0937\n")
    return msg


def test_a_real_mail_server_names_where_it_is_and_none_is_started():
    env = {"SMTP_HOST": "mail.example", "SMTP_PORT": "587"}
    assert mail.start(env) is None
    assert env == {"SMTP_HOST": "mail.example", "SMTP_PORT": "587"}


def test_make_run_s_mail_server_keeps_one_file_per_message(tmp_path):
    env = dict(os.environ, SMTP_PORT=str(free_port()), DEV_MAIL_DIR=str(tmp_path / "mail"))
    env.pop("SMTP_HOST", None)
    process = mail.start(env)
    try:
        assert env["SMTP_HOST"] == "127.0.0.1"
        with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"]), timeout=10) as smtp:
            smtp.send_message(message())
            smtp.send_message(message("finance@shop.example"))
        files = wait_until(lambda: len(list((tmp_path / "mail").glob("*.eml"))) == 2 and
                           sorted((tmp_path / "mail").glob("*.eml")))
        texts = [path.read_text() for path in files]
        assert all("Subject: Your code" in text and "4821 0937" in text for text in texts)
        assert sorted(text.split("To: ")[1].split("\n")[0] for text in texts) == [
            "finance@shop.example", "owner@shop.example"]
    finally:
        mail.stop(process)
    assert process.poll() is not None
