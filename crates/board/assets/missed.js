// Switchboard board: the missed calls to return. Follows the board's events
// (`missed` in `board:snapshot` / `board:delta`): an entry with
// `missed_count` 0 has left the list (called back, or marked done).
// Operators mark an entry done (POST /api/missed-calls/done, audited).
// Text from the server only ever goes into textContent or attributes.
'use strict';

(() => {
  const listEl = document.getElementById('missed-calls');
  const emptyEl = document.getElementById('missed-empty');
  const countEl = document.querySelector('[data-count=missed]');
  const row = document.getElementById('callcentre');
  const queuesPanel = document.getElementById('queues-panel');
  const noticeEl = document.getElementById('notice');
  if (!listEl) return;
  const isOperator = ['operator', 'supervisor'].includes(document.body.dataset.role);
  const REASONS = {
    abandoned: 'Abandoned in a queue', no_answer: 'Not answered', busy: 'Busy',
    failed: 'Failed', voicemail: 'Voicemail',
  };
  const key = (a, b) => a + '\u0000' + b;
  const entries = new Map(); // key -> {data, el}
  const pending = new Set();

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function fmtTime(iso) {
    const t = Date.parse(iso || '');
    if (Number.isNaN(t)) return '';
    const d = new Date(t);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return d.toDateString() === new Date().toDateString() ? time : d.toLocaleDateString() + ' ' + time;
  }
  function notice(text) { if (noticeEl) noticeEl.textContent = text; }

  function render(e, m) {
    const k = key(m.source, m.number);
    e.dataset.missedCall = '';
    e.dataset.source = m.source;
    e.dataset.number = m.number;
    const reason = REASONS[m.last_reason] || (m.last_reason || 'Missed');
    const number = el('span', 'missed-number', m.number);
    const what = el('span', 'missed-what',
      (m.missed_count === 1 ? '1 missed call' : m.missed_count + ' missed calls') + ' · ' + reason +
      (m.last_at ? ' · ' + fmtTime(m.last_at) : ''));
    const tag = el('span', 'source-tag', m.source);
    const parts = [number, tag, what];
    if (isOperator) {
      const b = el('button', 'done', pending.has(k) ? 'Marking…' : 'Mark done');
      b.type = 'button';
      b.dataset.action = 'missed-done';
      b.disabled = pending.has(k);
      b.setAttribute('aria-label', 'Mark the missed calls from ' + m.number + ' done');
      parts.push(b);
    }
    e.replaceChildren(...parts);
    e.setAttribute('aria-label', m.number + ': ' + what.textContent);
  }
  function upsert(m) {
    const k = key(m.source, m.number);
    const entry = entries.get(k);
    if (m.missed_count <= 0) {
      if (entry) { entry.el.remove(); entries.delete(k); }
      pending.delete(k);
      return;
    }
    if (entry) { entry.data = m; render(entry.el, m); return; }
    const e = el('li', 'missed-entry');
    render(e, m);
    entries.set(k, { data: m, el: e });
  }
  function order() {
    const sorted = [...entries.values()].sort((a, b) =>
      (Date.parse(b.data.last_at || '') || 0) - (Date.parse(a.data.last_at || '') || 0));
    sorted.forEach((entry, i) => {
      const at = listEl.children[i];
      if (at !== entry.el) listEl.insertBefore(entry.el, at || null);
    });
    if (countEl) countEl.textContent = String(entries.size);
    if (emptyEl) emptyEl.hidden = entries.size > 0;
    if (row) row.hidden = entries.size === 0 && (!queuesPanel || queuesPanel.hidden);
  }
  function take(msg, all) {
    if (all) {
      for (const entry of entries.values()) entry.el.remove();
      entries.clear();
    }
    if (!all && !(msg.missed && msg.missed.length)) return;
    (msg.missed || []).forEach(upsert);
    order();
  }
  document.addEventListener('board:snapshot', (ev) => take(ev.detail, true));
  document.addEventListener('board:delta', (ev) => take(ev.detail, false));

  listEl.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action=missed-done]');
    if (!btn || btn.disabled) return;
    const li = btn.closest('[data-missed-call]');
    const k = key(li.dataset.source, li.dataset.number);
    const entry = entries.get(k);
    if (!entry) return;
    pending.add(k);
    render(entry.el, entry.data);
    fetch('/api/missed-calls/done', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
      body: JSON.stringify({ source: entry.data.source, number: entry.data.number, through: entry.data.last_at }),
    }).then(async (r) => {
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      notice((body && (body.error || body.result)) || (r.ok ? 'Marked done.' : 'Failed (HTTP ' + r.status + ').'));
      if (!r.ok) { pending.delete(k); const e = entries.get(k); if (e) render(e.el, e.data); }
    }, () => {
      notice('Marking done failed: the server could not be reached.');
      pending.delete(k);
      const e = entries.get(k); if (e) render(e.el, e.data);
    });
  });
})();
