//! The dashboard's CSS and JS, embedded in the binary: no CDN, works offline, and the CSP allows
//! nothing else (`default-src 'self'`). The JS refreshes the page's `<main>` every few seconds
//! without a reload (not while a form field has the focus), and sends the CSRF token with the
//! action buttons' forms.

/// The stylesheet.
pub(super) const CSS: &str = r#"
:root { --fg: #1d2330; --muted: #5b6577; --line: #dde2ea; --bg: #f7f8fa; --accent: #2f5fd0;
        --ok: #2c8a4b; --bad: #c23b3b; font-family: system-ui, sans-serif; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .75rem 1.5rem;
         background: #1d2330; color: #fff; }
header a { color: #cfd8ea; text-decoration: none; }
header a[aria-current] { color: #fff; font-weight: 600; }
header strong { margin-right: 1rem; }
main { padding: 1.25rem 1.5rem; max-width: 72rem; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; }
td.error, pre { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace;
                font-size: .85rem; }
.cards { display: flex; gap: .75rem; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem;
        min-width: 7rem; color: inherit; text-decoration: none; }
.card b { display: block; font-size: 1.4rem; }
.card span { color: var(--muted); font-size: .85rem; }
form.inline { display: inline; }
#actions, .bulk { margin: 1rem 0; }
button { border: 1px solid var(--line); background: #fff; padding: .3rem .7rem; border-radius: 4px;
         cursor: pointer; }
button.danger { color: var(--bad); }
.filters { display: flex; gap: .5rem; margin-bottom: 1rem; align-items: center; }
.muted { color: var(--muted); }
svg .completed { fill: var(--ok); }
svg .failed { fill: var(--bad); }
.legend { margin: 0 0 .3rem; font-size: .9rem; color: var(--muted); }
.legend .completed { color: var(--ok); }
.legend .failed { color: var(--bad); }
"#;

/// The script: live refresh of `<main>`, and the CSRF header on fetches.
pub(super) const JS: &str = r#"
(function () {
  var token = document.querySelector('meta[name="qbwi-csrf"]');
  // Not while the user is in a form field (typing a task name, choosing a state): the fresh
  // <main> would throw away what they entered and not yet submitted.
  function editing() {
    var active = document.activeElement;
    return !!active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }
  function refresh() {
    if (document.hidden || editing()) return;
    fetch(location.href, { headers: { 'x-qbwi-refresh': '1' }, credentials: 'same-origin' })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        // The user may have stepped into a field while the page was being fetched.
        if (!html || editing()) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        var main = document.querySelector('main');
        if (fresh && main) main.replaceWith(fresh);
      })
      .catch(function () {});
  }
  setInterval(refresh, 3000);
  window.qbwiCsrf = token ? token.content : '';
})();
"#;
