// Switchboard call history: the search form reads GET /api/calls with the
// history filters (docs/board.md), a page at a time (keyset: "Next page"
// asks for the calls after the last one shown), and links the same search
// as CSV. The search is kept in the address (?number=...) so that a reload
// or a shared link shows it again. Text from the server only ever goes
// into textContent or attributes.
'use strict';

(() => {
  const FIELDS = ['number', 'extension', 'queue', 'source', 'disposition', 'since', 'until'];
  // Calls per page: 50, or `?limit=N` of the address (1-1,000).
  const PAGE = Math.min(1000, Math.max(1, parseInt(new URLSearchParams(window.location.search).get('limit'), 10) || 50));
  const form = document.getElementById('search');
  const body = document.getElementById('history-calls');
  const nextBtn = document.getElementById('next');
  const csv = document.getElementById('csv');
  const emptyEl = document.getElementById('history-empty');
  const noticeEl = document.getElementById('notice');
  const OUTCOMES = {
    answered: 'Answered', abandoned: 'Abandoned', no_answer: 'Not answered', busy: 'Busy',
    failed: 'Failed', voicemail: 'Voicemail',
  };
  let next = null, params = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  // A datetime-local value (the browser's zone) as RFC 3339 UTC, and back.
  function toIso(v) { const t = new Date(v); return Number.isNaN(t.getTime()) ? '' : t.toISOString(); }
  function toLocal(iso) {
    const t = new Date(iso);
    if (Number.isNaN(t.getTime())) return '';
    const p = (n) => String(n).padStart(2, '0');
    return t.getFullYear() + '-' + p(t.getMonth() + 1) + '-' + p(t.getDate()) + 'T' + p(t.getHours()) + ':' + p(t.getMinutes());
  }
  function fmtTime(iso) {
    const t = Date.parse(iso || '');
    return Number.isNaN(t) ? '' : new Date(t).toLocaleString();
  }
  function fmtDuration(sec) {
    if (sec == null) return '';
    const m = Math.floor(sec / 60), s = String(sec % 60).padStart(2, '0');
    return m + ':' + s;
  }

  // The search the form asks for (empty fields left out).
  function fromForm() {
    const p = new URLSearchParams();
    for (const f of FIELDS) {
      let v = (form.elements[f].value || '').trim();
      if ((f === 'since' || f === 'until') && v) v = toIso(v);
      if (v) p.set(f, v);
    }
    return p;
  }
  function toForm(p) {
    for (const f of FIELDS) {
      const v = p.get(f) || '';
      form.elements[f].value = (f === 'since' || f === 'until') && v ? toLocal(v) : v;
    }
  }

  function row(c) {
    const tr = el('tr');
    tr.dataset.callId = c.call_id;
    tr.dataset.outcome = c.outcome || '';
    tr.append(
      el('td', 'num', fmtTime(c.start)), el('td', null, c.source), el('td', null, c.direction || ''),
      el('td', 'num', c.from_number || ''), el('td', 'num', c.to_number || ''),
      el('td', null, OUTCOMES[c.outcome] || (c.status === 'ended' ? (c.disposition || '') : 'In progress')),
      el('td', null, (c.queues || []).join(', ')), el('td', null, (c.extensions || []).join(', ')),
      el('td', 'num', fmtDuration(c.talk_seconds)));
    return tr;
  }

  async function load(append) {
    const p = new URLSearchParams(params);
    p.set('limit', String(PAGE));
    if (append && next) p.set('after', next);
    // Asks for the history even without any filter.
    p.set('format', 'json');
    nextBtn.disabled = true;
    let r, data = null;
    try {
      r = await fetch('/api/calls?' + p.toString(), { credentials: 'same-origin', cache: 'no-store' });
      data = await r.json();
    } catch (_) {
      noticeEl.textContent = 'The search failed: the server could not be reached.';
      nextBtn.disabled = false;
      return;
    }
    if (r.status === 401) { window.location.href = '/login'; return; }
    if (!r.ok) {
      noticeEl.textContent = (data && data.error) || ('The search failed (HTTP ' + r.status + ').');
      nextBtn.disabled = false;
      return;
    }
    noticeEl.textContent = '';
    const rows = (data.calls || []).map(row);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    next = data.next || null;
    nextBtn.hidden = !next;
    nextBtn.disabled = false;
    emptyEl.hidden = body.children.length > 0;
    body.dataset.count = String(body.children.length);
  }

  function search() {
    params = fromForm();
    const c = new URLSearchParams(params);
    c.set('format', 'csv');
    csv.href = '/api/calls?' + c.toString();
    history.replaceState(null, '', params.toString() ? '?' + params.toString() : window.location.pathname);
    next = null;
    load(false);
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  nextBtn.addEventListener('click', () => load(true));

  toForm(new URLSearchParams(window.location.search));
  search();
})();
