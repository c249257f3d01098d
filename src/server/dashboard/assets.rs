//! The dashboard's stylesheet and its one small script, served as they are.
//! The script keeps a page live (an `EventSource` on the event stream
//! refetches the page's live part) and sends the gate, abort and rollback
//! forms to the API with the reason they ask for.

pub const CSS: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #1d2330; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
main { padding: 16px 24px; max-width: 1200px; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }
h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 16px; margin: 4px 0 10px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef2; vertical-align: top; }
th { font-weight: 600; color: #566; }
.status { font-weight: 600; padding: 1px 6px; border-radius: 4px; background: #eceef2; }
.promoted { background: #d8f3dc; } .rolled_back, .failed, .aborted { background: #fde2e1; } .in_progress { background: #fff3c4; } .returned, .rejected { background: #e7e3fb; }
.successful { background: #d8f3dc; } .inconclusive, .running { background: #fff3c4; } .error { background: #eceef2; }
.approve { color: #1b7f3a; } .fixes_needed { color: #a15c00; } .major_flaw, .abstain { color: #b42318; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .charts svg { border: 1px solid #eceef2; border-radius: 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 24px; } .figure b { display: block; font-size: 18px; }
.phases { display: flex; gap: 2px; } .phase { padding: 6px 8px; background: #dbe7fb; border-radius: 4px; font-size: 12px; }
.phase.current { background: #fff3c4; outline: 2px solid #e0b000; }
pre { background: #f5f6f8; padding: 8px; overflow-x: auto; max-height: 320px; font-size: 12px; margin: 4px 0; }
form.action { display: inline-flex; gap: 6px; margin-right: 12px; } form.action input[name=reason] { width: 260px; }
.muted { color: #778; } .result { margin-left: 8px; }
"#;

pub const JS: &str = r#"
(function () {
  const live = document.getElementById('live');
  // Keep the live part current: every event of the stream refetches it.
  if (live && window.EventSource) {
    let pending = null;
    const refresh = () => {
      pending = null;
      fetch(live.dataset.refresh, { credentials: 'same-origin' })
        .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
        .then((html) => { live.innerHTML = html; })
        .catch(() => {});
    };
    const events = new EventSource(live.dataset.stream);
    events.onmessage = () => { if (!pending) pending = setTimeout(refresh, 150); };
  }
  // The gate, abort and rollback: each asks for a reason, then calls the API.
  document.addEventListener('submit', (e) => {
    const form = e.target.closest('form[data-url]');
    if (!form) return;
    e.preventDefault();
    const reason = form.querySelector('input[name=reason]').value.trim();
    const out = form.querySelector('.result');
    if (!reason) { out.textContent = 'a reason, please'; return; }
    out.textContent = '…';
    fetch(form.dataset.url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(form.dataset.full
        ? { by: 'dashboard', reason: reason, full: true }
        : { by: 'dashboard', reason: reason }),
    })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body: body })))
      .then((a) => { out.textContent = a.ok ? 'done' : (a.body.error || 'refused'); })
      .catch((err) => { out.textContent = String(err); });
  });
})();
"#;
