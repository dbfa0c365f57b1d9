"""The one set of waits for the browser tests: wait on the app's own state, never on the clock.

Why not the DOM alone: Streamlit marks the app root with ``data-test-script-state``, but a widget
change does not touch it on the client; it stays ``notRunning`` until the server's answer arrives. A
check made right after a click therefore sees the *previous* run as finished and returns before the
new run has even started (on a busy machine that gap is seconds; this is how the records test read
the problems grid before it rendered). So every page gets a small run tracker (an init script that
wraps the page's WebSocket): it numbers each ``rerun_script`` message the browser sends and each
``script_finished`` message the server sends back (read from the protobuf's top-level field, no
Streamlit internals). A run is finished when a successful ``script_finished`` arrived after the last
rerun request, the root's script state says ``notRunning`` on a connected socket, and two animation
frames have passed so React has painted what that message carried.

Use:
- ``new_page(browser)`` / the ``page`` fixture: a context with the tracker installed.
- ``open_url(page, url)``: navigate and wait for the first run to finish.
- ``reload(page)``: reload (a new document and Streamlit session) and wait for its first run to finish.
- ``with rerun(page): <action>``: the action must cause a rerun (click, Enter, upload, selection);
  waits until a rerun was requested after it and has finished.
- ``wait_for_run(page)``: whatever run is in flight has finished (no new request needed).
- ``wait_for_text(scope, text)``: run finished, then a specific element with specific content.
- ``last_run_was_fragment(page)``: the last finished run was one ``st.fragment``'s own run (status 3).
Timeouts here are deadlines for a failure message, never the condition being waited for.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

RUN_TIMEOUT_MS = 120_000  # a deadline: a busy 2-core machine can take tens of seconds for one run

# Counts rerun requests (BackMsg field 11, rerun_script) and successful script finishes (ForwardMsg
# field 6, script_finished: 0 success, 1 compile error, 3 fragment success; 2 "stopped early for a
# rerun" is not a finish) on one sequence, so "finished after the last request" is one comparison.
RUN_TRACKER_JS = r"""
(() => {
  if (window.__clinsightRuns) return;
  const runs = window.__clinsightRuns = {doc: Math.random(), seq: 0, lastRequest: 0, lastFinish: 0, lastStatus: -1};
  const varint = (b, i) => {
    let value = 0, shift = 0;
    while (i < b.length) {
      const byte = b[i++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return [value, i];
      shift += 7;
    }
    return [-1, b.length];
  };
  // Top-level field `field` of a protobuf message: its value (varint) or 1 (length-delimited) if present, else -1.
  const topLevel = (b, field, wireType) => {
    let i = 0;
    while (i < b.length) {
      let tag; [tag, i] = varint(b, i);
      if (tag < 0) return -1;
      const f = Math.floor(tag / 8), w = tag & 7;
      if (f === field && w === wireType) return wireType === 0 ? varint(b, i)[0] : 1;
      if (w === 0) { i = varint(b, i)[1]; }
      else if (w === 1) { i += 8; }
      else if (w === 2) { let n; [n, i] = varint(b, i); i += n; }
      else if (w === 5) { i += 4; }
      else return -1;
    }
    return -1;
  };
  const bytesOf = (data) => data instanceof ArrayBuffer ? new Uint8Array(data)
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
  const Native = window.WebSocket;
  class TrackedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const b = bytesOf(event.data);
        if (!b) return;
        const status = topLevel(b, 6, 0);
        if (status === 0 || status === 1 || status === 3) { runs.lastFinish = ++runs.seq; runs.lastStatus = status; }
      });
    }
    send(data) {
      const b = bytesOf(data);
      if (b && topLevel(b, 11, 2) === 1) runs.lastRequest = ++runs.seq;
      return super.send(data);
    }
  }
  window.WebSocket = TrackedWebSocket;
})();
"""

_SETTLED_JS = """
() => {
  const runs = window.__clinsightRuns;
  const app = document.querySelector('[data-testid="stApp"]');
  return !!runs && !!app && runs.lastFinish > runs.lastRequest
      && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && app.getAttribute('data-test-script-state') === 'notRunning';
}
"""

_TWO_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def track_runs(context) -> None:
    """Install the run tracker in every page (and every navigation) of ``context``."""
    context.add_init_script(RUN_TRACKER_JS)


def new_context(browser, **kwargs):
    """A browser context with a tall viewport (Streamlit scrolls inside its own container) and the tracker."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 1400}, **kwargs})  # a test may ask wider
    context.set_default_timeout(RUN_TIMEOUT_MS)
    track_runs(context)
    return context


@contextmanager
def new_page(browser) -> Iterator:
    """A page in its own context (own cookies, own Streamlit session), closed at the end."""
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_for_run(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until every rerun this page asked for has finished and its output is painted."""
    page.wait_for_function(_SETTLED_JS, timeout=timeout_ms)
    page.evaluate(_TWO_FRAMES_JS)


def _position(page) -> dict:
    return page.evaluate("() => { const r = window.__clinsightRuns || {doc: null, seq: 0}; return {doc: r.doc, seq: r.seq}; }")


@contextmanager
def rerun(page, timeout_ms: int = RUN_TIMEOUT_MS) -> Iterator[None]:
    """Run the block's action, then wait for the rerun it caused to be requested and to finish.

    Uploads and some widgets send their rerun request a while after the DOM event (the file is sent
    first), so "finished" is only trusted once a request newer than the action has gone out.
    """
    before = _position(page)
    yield
    # A link that loads a new document starts a new tracker: any request there is newer than the action.
    page.wait_for_function("(before) => { const r = window.__clinsightRuns;"
                           " return !!r && (r.doc !== before.doc ? r.lastRequest > 0 : r.lastRequest > before.seq); }",
                           arg=before, timeout=timeout_ms)
    wait_for_run(page, timeout_ms)


def open_url(page, url: str, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Navigate (a new Streamlit session) and wait for its first run to finish."""
    page.goto(url)
    wait_for_run(page, timeout_ms)


def reload(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Reload (a new document: a fresh tracker, a new Streamlit session) and wait for its first run to finish."""
    page.reload()
    wait_for_run(page, timeout_ms)


def wait_for_text(scope, text: str | re.Pattern, *, exact: bool = False, timeout_ms: int = RUN_TIMEOUT_MS):
    """The run has finished, then the element showing ``text`` inside ``scope`` (a page or locator) is there."""
    page = getattr(scope, "page", scope)
    wait_for_run(page, timeout_ms)
    found = scope.get_by_text(text, exact=exact).first
    found.wait_for(timeout=timeout_ms)
    return found


def last_run_was_fragment(page) -> bool:
    """Whether the last finished run was one fragment's own run (script_finished status 3), not the whole page's."""
    wait_for_run(page)
    return page.evaluate("() => (window.__clinsightRuns || {}).lastStatus") == 3


def app_text(page) -> str:
    """All text of the app once the current run has finished (for 'must not show' checks)."""
    wait_for_run(page)
    return page.locator('[data-testid="stApp"]').inner_text()
