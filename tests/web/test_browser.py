"""The workspace in a real browser: headless Chromium (Debian's chromium and chromium-driver,
installed by scripts/setup.sh) driven by Selenium against `auditor serve` on a local port.

One server and one browser for the module. Never skipped: without Chromium the suite fails and
says to run scripts/setup.sh.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from auditor.records.runs import open_run, read_signoffs
from auditor.records.verify import embedded_files

from history.helpers import flat, invoke  # noqa: E402 - tests/ is on sys.path

from .conftest import PASSWORD

SOON = (date.today() + timedelta(days=10)).isoformat()  # within v0003's policy's re-audit interval (30 days)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `bash scripts/setup.sh` (it installs chromium and chromium-driver)")
    profile = tempfile.mkdtemp(prefix="auditor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def replaced(element):
    """Wait condition: ``element``'s page has been replaced. Selenium's ``staleness_of`` expects a
    stale-element error; while the old document is being torn down Chromium may instead answer
    "unhandled inspector error" (node does not belong to the document), which also means it is gone."""
    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error) or "unhandled inspector error" in str(error):
                return True
            raise
        return False
    return gone


def log_in(driver, server, name: str, password: str = PASSWORD) -> None:
    driver.get(f"{server.url}/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    submit = driver.find_element(By.ID, "submit")
    submit.click()
    WebDriverWait(driver, 30).until(replaced(submit))  # the answer page has loaded


def text_of(driver, element_id: str) -> str:
    """The text of an element of the page now loaded, read again if the page is still being replaced
    (Chromium then answers "node does not belong to the document")."""
    return WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.ID, element_id).text)


def log_out(driver) -> None:
    button = driver.find_element(By.CSS_SELECTOR, "form.logout button")
    button.click()
    WebDriverWait(driver, 30).until(replaced(button))


def http_request(server, path: str, cookies: list[dict] | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    """A raw GET, or POST of a form ``body`` (no client-side normalisation of ``..``), with the browser's cookies."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in cookies or [])}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_unauthenticated_pages_redirect_to_login(browser, server):
    browser.delete_all_cookies()
    browser.get(f"{server.url}/m/{server.model}/v0001")
    assert browser.current_url.startswith(f"{server.url}/login?next=")
    assert browser.find_element(By.ID, "login").is_displayed()


def test_review_diff_and_sign_off(browser, server):
    log_in(browser, server, "alice")
    assert browser.find_element(By.ID, "who").text == "alice (approver)"
    # models -> versions -> a run -> its report
    browser.find_element(By.CSS_SELECTOR, "#models a").click()
    assert browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr").__len__() == 3
    browser.find_element(By.LINK_TEXT, "v0003").click()
    assert "v0003" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.ID, "report-link").click()
    assert "/report" in browser.current_url and browser.find_elements(By.CSS_SELECTOR, "section")  # the audit report itself
    browser.back()
    # the diff against the previous version
    browser.find_element(By.ID, "diff-link").click()
    assert "diff?a=v0002&b=v0003" in browser.current_url
    assert "v0002" in browser.page_source and "v0003" in browser.page_source
    browser.back()
    # sign off
    Select(browser.find_element(By.ID, "decision")).select_by_value("approve-with-conditions")
    browser.find_element(By.ID, "conditions").send_keys("re-audit after the next retraining")
    browser.find_element(By.ID, "comment").send_keys("performance holds; stricter AUC bound only warns")
    browser.execute_script(f"document.getElementById('valid_until').value = '{SOON}'")  # v0003: re-audit in 30 days
    browser.find_element(By.ID, "signoff-submit").click()
    # the answer comes after the signed PDF is rendered: seconds on a loaded machine
    row = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.CSS_SELECTOR, "#signoff-table tbody tr"))
    assert "approve-with-conditions" in row.text and "alice" in row.text and "key web" in row.text

    # the record: written by the same function as `auditor sign-off`, in the logged-in user's name, signed
    run = open_run(server.out / server.model / "v0003")
    (record,) = read_signoffs(run)
    assert (record["reviewer"], record["decision"], record["valid_until"]) == ("alice", "approve-with-conditions", SOON)
    # `auditor history` shows it
    from auditor.cli import out as console

    width, console.width = console.width, 200  # the table unwrapped
    try:
        shown = invoke("history", "--out", server.out)
    finally:
        console.width = width
    assert shown.exit_code == 0 and f"approved with conditions by alice until {SOON}" in flat(shown.stdout)
    rows = json.loads(invoke("history", "--out", server.out, "--json").stdout)
    latest = [r for r in rows if r["version"] == "v0003"][0]
    assert (latest["signoff_decision"], latest["signoff_reviewer"]) == ("approve-with-conditions", "alice")
    # the signed PDF, downloaded with the browser's session, carries the record
    link = browser.find_element(By.CSS_SELECTOR, "a.signed-pdf").get_attribute("href")
    status, pdf = http_request(server, link[len(server.url):], browser.get_cookies())
    assert status == 200 and pdf.startswith(b"%PDF")
    embedded = json.loads(embedded_files(pdf)["signoff.json"])
    assert embedded["reviewer"] == "alice" and embedded["conditions"] == "re-audit after the next retraining"
    assert embedded["signature"]["key"] == "web"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert "APPROVE WITH CONDITIONS" in text and "alice" in text
    log_out(browser)


def test_viewer_is_refused_the_form(browser, server):
    log_in(browser, server, "vera")
    browser.get(f"{server.url}/m/{server.model}/v0001")
    assert not browser.find_elements(By.ID, "signoff-form")
    assert "may view audits but not sign" in browser.find_element(By.ID, "no-signoff").text
    log_out(browser)


def test_forged_post_without_csrf_token_is_refused(browser, server):
    log_in(browser, server, "alice")
    browser.get(f"{server.url}/m/{server.model}/v0001")
    browser.find_element(By.ID, "comment").send_keys("forged")
    browser.execute_script("document.querySelector('#signoff-form input[name=csrf_token]').remove()")
    browser.find_element(By.ID, "signoff-submit").click()
    assert "CSRF" in text_of(browser, "error")
    # the same POST made outside the browser with the session cookie (our pages' CSP forbids scripts to post)
    status, _ = http_request(server, f"/m/{server.model}/v0001/sign-off", browser.get_cookies(),
                             body=b"decision=approve&comment=forged")
    assert status == 403
    assert read_signoffs(open_run(server.out / server.model / "v0001")) == []


def test_dot_dot_and_unknown_run_ids_are_404(browser, server):
    # logged in as alice from the test before
    for path in (f"/m/{server.model}/v0042", "/m/no-such-model", f"/m/{server.model}/%2e%2e"):
        browser.get(server.url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found", path
    cookies = browser.get_cookies()
    for path in (f"/m/{server.model}/../../etc/passwd", f"/m/{server.model}/v0001/files/../../audits.sqlite",
                 f"/m/../{server.model}/v0001", f"/m/{server.model}/v0001/files/%2e%2e/%2e%2e/audits.sqlite"):
        status, body = http_request(server, path, cookies)
        assert status == 404, path
        assert b"SQLite" not in body and b"root:" not in body
    log_out(browser)


def test_a_refused_multi_line_comment_is_signed_as_typed_and_shown_with_its_line_breaks(browser, server):
    """The refused form came back with the browser's CRLF as a literal \\r (signed on resubmit), and
    the run page printed a comment's lines as one."""
    log_in(browser, server, "alice")
    browser.get(f"{server.url}/m/{server.model}/v0002")
    Select(browser.find_element(By.ID, "decision")).select_by_value("approve-with-conditions")
    browser.find_element(By.ID, "comment").send_keys("First paragraph.\nSecond paragraph.")
    browser.find_element(By.ID, "signoff-submit").click()
    assert text_of(browser, "error") == "State the conditions of the approval."
    assert browser.find_element(By.ID, "comment").get_attribute("value") == "First paragraph.\nSecond paragraph."
    browser.find_element(By.ID, "conditions").send_keys("Monitor\nmonthly.")
    browser.find_element(By.ID, "signoff-submit").click()
    row = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.CSS_SELECTOR, "#signoff-table tbody tr"))
    assert [c.text for c in row.find_elements(By.CSS_SELECTOR, "td.comment")] == [
        "Monitor\nmonthly.", "First paragraph.\nSecond paragraph."]
    (record,) = read_signoffs(open_run(server.out / server.model / "v0002"))
    assert (record["comment"], record["conditions"]) == ("First paragraph.\nSecond paragraph.", "Monitor\nmonthly.")
    # a long unbroken comment (a URL) wraps in its cell: the page does not scroll sideways
    url = "https://docs.example.org/" + "a" * 300
    Select(browser.find_element(By.ID, "decision")).select_by_value("reject")
    browser.find_element(By.ID, "comment").send_keys(url)
    browser.find_element(By.ID, "signoff-submit").click()
    WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#signoff-table tbody tr")) == 2)
    assert browser.find_element(By.CSS_SELECTOR, "#signoff-table tbody tr td.comment:nth-child(7)").text.replace("\n", "") == url
    scroll, client = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll == client, (scroll, client)
    log_out(browser)


def test_five_wrong_passwords_are_rate_limited(browser, server):
    for _ in range(5):
        log_in(browser, server, "rita", "not the password")
        assert "wrong password" in text_of(browser, "error")
    log_in(browser, server, "rita")
    assert "Too many failed logins" in text_of(browser, "error")
    assert "/login" in browser.current_url
