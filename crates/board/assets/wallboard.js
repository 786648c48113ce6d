// Switchboard wallboard: a read-only, full-screen page for a TV. It opens
// with an API token, never a login: the token is in the URL's fragment
// (`/wallboard#token=sbt_...`), which browsers never send to a server (no
// access log, no proxy, no Referer sees it). The script moves it to
// sessionStorage (this tab only; a reload keeps working), removes it from
// the address bar, and reads the JSON API with `Authorization: Bearer`
// every POLL_MS. Waits tick every second in between. Text from the server
// only ever goes into textContent or attributes.
'use strict';

(() => {
  const POLL_MS = 2000;
  const STORE = 'switchboard.wallboard.token';
  const $ = (s) => document.querySelector(s);
  const totalsEl = $('.wb-totals');
  const statusEl = $('#wb-status'), list = $('#wb-queues'), emptyEl = $('#wb-empty');
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  const key = (a, b) => a + '\u0000' + b;
  const tiles = new Map(); // key -> {data, el}
  let clockOffset = 0, timer = 0, totals = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(e, text) { if (e && e.textContent !== text) e.textContent = text; }
  function fmtWait(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = String(sec % 60).padStart(2, '0');
    return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + s : m + ':' + s;
  }
  function status(state, words) { statusEl.dataset.state = state; setText(statusEl.querySelector('.words'), words); }
  function store(v) { try { if (v) sessionStorage.setItem(STORE, v); else sessionStorage.removeItem(STORE); } catch (_) { /* private mode */ } }
  function stored() { try { return sessionStorage.getItem(STORE); } catch (_) { return null; } }

  // The token: from the fragment (then kept and removed from the URL), or
  // kept from before in this tab.
  function takeToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || '');
    if (m) {
      let t = '';
      try { t = decodeURIComponent(m[1]); } catch (_) { t = ''; }
      store(t);
      history.replaceState(null, '', window.location.pathname + window.location.search);
      return t;
    }
    return stored();
  }
  const token = takeToken();
  // A token given to the page already open (only the fragment changed):
  // start again with it.
  window.addEventListener('hashchange', () => {
    if (/(?:^#|&)token=/.test(window.location.hash)) { takeToken(); window.location.reload(); }
  });

  function waitOf(q) {
    if (!q.waiting || !q.longest_waiting_since) return 0;
    const t = Date.parse(q.longest_waiting_since);
    return Number.isNaN(t) ? 0 : Math.max(0, Math.floor((Date.now() + clockOffset - t) / 1000));
  }
  function pct(v) { return v == null ? '–' : Math.round(v * 100) + '%'; }

  function createTile() {
    const e = el('article', 'queue-card wb-queue');
    const head = el('div', 'wb-queue-head');
    const name = el('span', 'wb-queue-name'); name.dataset.field = 'queue';
    const src = el('span', 'wb-queue-source'); src.dataset.field = 'source';
    const st = el('span', 'wb-queue-state'); st.dataset.field = 'state';
    head.append(name, src, st);
    const figs = el('div', 'wb-figures');
    for (const [f, label] of [['waiting', 'waiting'], ['longest-wait', 'longest wait'], ['service-level', 'in time']]) {
      const d = el('div', 'wb-fig');
      const v = el('span', 'wb-value'); v.dataset.field = f;
      const l = el('span', 'wb-label', label); l.dataset.field = f + '-label';
      d.append(v, l);
      figs.append(d);
    }
    const agents = el('p', 'wb-agents'); agents.dataset.field = 'agents';
    e.append(head, figs, agents);
    return e;
  }
  function tickTile(e, q) {
    const wait = waitOf(q);
    e.dataset.longestWait = String(wait);
    const lvl = !q.waiting ? 'ok' : wait > q.sla_seconds ? 'alert' : 'warn';
    e.dataset.level = lvl;
    setText(e.querySelector('[data-field=longest-wait]'), q.waiting ? fmtWait(wait) : '–');
    setText(e.querySelector('[data-field=state]'),
      lvl === 'ok' ? 'Nobody waiting' : lvl === 'alert' ? 'Waiting over ' + q.sla_seconds + ' s' : 'Callers waiting');
  }
  function fillTile(e, q) {
    const f = (n) => e.querySelector('[data-field=' + n + ']');
    e.dataset.source = q.source;
    e.dataset.queue = q.queue;
    e.dataset.waiting = String(q.waiting);
    setText(f('queue'), 'Queue ' + q.queue);
    setText(f('source'), q.source);
    setText(f('waiting'), String(q.waiting));
    setText(f('service-level'), pct(q.service_level));
    setText(f('service-level-label'), 'in ' + q.sla_seconds + ' s');
    setText(f('agents'), q.agents_available + ' free · ' + q.agents_busy + ' busy · ' + q.agents_paused + ' paused');
    tickTile(e, q);
  }

  function showQueues(qs) {
    const keep = new Set();
    for (const q of qs) {
      const k = key(q.source, q.queue);
      keep.add(k);
      let t = tiles.get(k);
      if (!t) { t = { data: q, el: createTile() }; tiles.set(k, t); }
      t.data = q;
      fillTile(t.el, q);
    }
    for (const [k, t] of tiles) if (!keep.has(k)) { t.el.remove(); tiles.delete(k); }
    [...tiles.values()]
      .sort((a, b) => collator.compare(a.data.source, b.data.source) || collator.compare(a.data.queue, b.data.queue))
      .forEach((t, i) => { const at = list.children[i]; if (at !== t.el) list.insertBefore(t.el, at || null); });
    emptyEl.hidden = tiles.size > 0;
    list.dataset.count = String(tiles.size);
  }
  function showTotals(qs, missed) {
    let waiting = 0, answered = 0, abandoned = 0, within = 0;
    for (const q of qs) {
      waiting += q.waiting; answered += q.answered_today; abandoned += q.abandoned_today;
      within += q.answered_within_sla_today;
    }
    totals = { qs };
    const t = (n) => totalsEl.querySelector('[data-field=' + n + ']');
    setText(t('waiting'), String(waiting));
    setText(t('answered'), String(answered));
    setText(t('abandoned'), String(abandoned));
    setText(t('service-level'), answered + abandoned ? pct(within / (answered + abandoned)) : '–');
    setText(t('missed'), String(missed));
    totalsEl.querySelector('[data-total=waiting]').dataset.level = waiting ? 'warn' : 'ok';
    tickTotals();
  }
  function tickTotals() {
    if (!totals) return;
    const longest = totals.qs.reduce((m, q) => Math.max(m, waitOf(q)), 0);
    const e = totalsEl.querySelector('[data-total=longest-wait]');
    e.dataset.seconds = String(longest);
    setText(e.querySelector('[data-field=longest-wait]'), longest ? fmtWait(longest) : '–');
  }

  async function get(path) {
    const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' });
    if (r.status === 401) throw Object.assign(new Error('refused'), { refused: true });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const date = Date.parse(r.headers.get('Date') || '');
    if (!Number.isNaN(date)) clockOffset = date - Date.now();
    return r.json();
  }
  async function poll() {
    timer = 0;
    try {
      const [q, missed] = await Promise.all([get('/api/queues'), get('/api/missed-calls?limit=1000')]);
      showQueues(q.queues || []);
      showTotals(q.queues || [], (missed || []).length);
      status('live', 'Live · ' + new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    } catch (e) {
      if (e.refused) {
        store(null);
        status('refused', 'The token was refused (revoked or mistyped): open the wallboard with a valid one.');
        $('#wb-help').hidden = false;
        return;
      }
      status('offline', 'Offline, retrying…');
    }
    timer = setTimeout(poll, POLL_MS);
  }

  setInterval(() => {
    for (const { data: q, el: e } of tiles.values()) if (q.waiting) tickTile(e, q);
    tickTotals();
    setText($('#wb-clock'), new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  }, 1000);
  setText($('#wb-clock'), new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));

  if (!token || !/^sbt_[A-Za-z0-9_-]{43}$/.test(token)) {
    store(null);
    status('refused', 'No token: this wallboard cannot read anything.');
    $('#wb-help').hidden = false;
  } else {
    poll();
  }
})();
