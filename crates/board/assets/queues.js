// Switchboard board: the queues panel, and each agent's state on its
// extension's card. Follows the board's own events (board.js dispatches
// `board:snapshot` and `board:delta` after updating the cards): `queues`
// and `agents` in them replace what is shown by key. Text from the server
// only ever goes into textContent or attributes.
'use strict';

(() => {
  const panel = document.getElementById('queues-panel');
  const list = document.getElementById('queues');
  const row = document.getElementById('callcentre');
  if (!panel || !list) return;
  const AGENT_WORDS = {
    available: 'Available', paused: 'Paused', wrapup: 'Wrap-up', ringing: 'Ringing',
    incall: 'In call', loggedout: 'Logged out',
  };
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  const key = (a, b) => a + '\u0000' + b;
  const queues = new Map(); // key -> {data, el}
  const agents = new Map(); // key -> agent
  let clockOffset = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(e, text) { if (e.textContent !== text) e.textContent = text; }
  function fmtWait(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = String(sec % 60).padStart(2, '0');
    return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + s : m + ':' + s;
  }
  // Whole seconds the longest caller of `q` has waited, now.
  function longestWait(q) {
    if (!q.waiting || !q.longest_waiting_since) return 0;
    const t = Date.parse(q.longest_waiting_since);
    return Number.isNaN(t) ? 0 : Math.max(0, Math.floor((Date.now() + clockOffset - t) / 1000));
  }

  // ---- queue cards ----
  function figure(name, label) {
    const f = el('div', 'fig fig-' + name);
    const v = el('span', 'fig-value'); v.dataset.field = name;
    f.append(v, el('span', 'fig-label', label));
    f.lastChild.dataset.field = name + '-label';
    return f;
  }
  function createQueue() {
    const e = el('article', 'queue-card');
    const head = el('div', 'queue-head');
    const name = el('span', 'queue-name'); name.dataset.field = 'queue';
    const src = el('span', 'source-tag'); src.dataset.field = 'source';
    head.append(name, src);
    const state = el('p', 'queue-state'); state.dataset.field = 'state';
    const figs = el('div', 'queue-figures');
    figs.append(figure('waiting', 'waiting'), figure('longest-wait', 'longest wait'), figure('service-level', 'answered in time'));
    const ag = el('p', 'queue-agents'); ag.dataset.field = 'agents';
    const today = el('p', 'queue-today'); today.dataset.field = 'today';
    e.append(head, state, figs, ag, today);
    return e;
  }
  // The level of a queue, in words and as `data-level` (its colour).
  function level(q, wait) {
    if (!q.waiting) return ['ok', 'Nobody waiting'];
    if (wait > q.sla_seconds) return ['alert', 'Waiting over ' + q.sla_seconds + ' s'];
    return ['warn', q.waiting === 1 ? '1 caller waiting' : q.waiting + ' callers waiting'];
  }
  function tick(e, q) {
    const wait = longestWait(q);
    e.dataset.longestWait = String(wait);
    const [lvl, words] = level(q, wait);
    e.dataset.level = lvl;
    const f = (n) => e.querySelector('[data-field=' + n + ']');
    setText(f('longest-wait'), q.waiting ? fmtWait(wait) : '–');
    setText(f('state'), words);
    e.setAttribute('aria-label', 'Queue ' + q.queue + ': ' + words +
      (q.waiting ? ', longest wait ' + fmtWait(wait) : ''));
  }
  function fillQueue(e, q) {
    const f = (n) => e.querySelector('[data-field=' + n + ']');
    e.dataset.source = q.source;
    e.dataset.queue = q.queue;
    e.dataset.waiting = String(q.waiting);
    setText(f('queue'), 'Queue ' + q.queue);
    setText(f('source'), q.source);
    setText(f('waiting'), String(q.waiting));
    const sl = q.service_level == null ? '–' : Math.round(q.service_level * 100) + '%';
    setText(f('service-level'), sl);
    setText(f('service-level-label'), 'in ' + q.sla_seconds + ' s today');
    setText(f('agents'), q.agents_available + ' free · ' + q.agents_busy + ' busy · ' +
      q.agents_paused + ' paused' + (q.agents_logged_out ? ' · ' + q.agents_logged_out + ' logged out' : ''));
    let today = q.answered_today + ' answered · ' + q.abandoned_today + ' abandoned';
    if (q.avg_wait_seconds != null) today += ' · avg wait ' + fmtWait(q.avg_wait_seconds);
    if (q.avg_talk_seconds != null) today += ' · avg talk ' + fmtWait(q.avg_talk_seconds);
    setText(f('today'), today);
    tick(e, q);
  }
  function upsertQueue(q) {
    const k = key(q.source, q.queue);
    let entry = queues.get(k);
    if (!entry) { entry = { data: q, el: createQueue() }; queues.set(k, entry); }
    entry.data = q;
    fillQueue(entry.el, q);
  }
  function orderQueues() {
    const sorted = [...queues.values()].sort((a, b) =>
      collator.compare(a.data.source, b.data.source) || collator.compare(a.data.queue, b.data.queue));
    sorted.forEach((entry, i) => {
      const at = list.children[i];
      if (at !== entry.el) list.insertBefore(entry.el, at || null);
    });
  }

  // ---- agents on their extension's card ----
  const cardEls = new Map();
  function cardOf(source, ext) {
    const k = key(source, ext);
    const cached = cardEls.get(k);
    if (cached && cached.isConnected) return cached;
    const found = document.querySelector('#cards .card[data-source="' + CSS.escape(source) +
      '"][data-extension="' + CSS.escape(ext) + '"]');
    if (found) cardEls.set(k, found); else cardEls.delete(k);
    return found;
  }
  function agentWords(a) {
    let w = AGENT_WORDS[a.state] || a.state;
    if (a.state === 'paused' && a.reason) w += ': ' + a.reason;
    return w;
  }
  function showAgent(k) {
    const a = agents.get(k);
    if (!a) return;
    const card = cardOf(a.source, a.agent);
    if (!card) return;
    card.dataset.agentStatus = a.state;
    let line = card.querySelector('.agent-state');
    if (!line) {
      line = el('div', 'agent-state');
      line.dataset.field = 'agent';
      const status = card.querySelector('.status-line');
      card.insertBefore(line, status ? status.nextSibling : null);
    }
    setText(line, 'Agent: ' + agentWords(a));
    line.title = line.textContent;
  }

  // ---- events ----
  function take(msg, all) {
    const t = Date.parse(msg.now || '');
    if (!Number.isNaN(t)) clockOffset = t - Date.now();
    if (all) {
      const keep = new Set((msg.queues || []).map((q) => key(q.source, q.queue)));
      for (const [k, entry] of queues) if (!keep.has(k)) { entry.el.remove(); queues.delete(k); }
      agents.clear();
    }
    const before = queues.size;
    (msg.queues || []).forEach(upsertQueue);
    if (all || queues.size !== before) orderQueues();
    panel.hidden = queues.size === 0;
    if (row) row.hidden = panel.hidden && !document.querySelector('#missed-calls li');
    for (const a of msg.agents || []) agents.set(key(a.source, a.agent), a);
    if (all) { for (const k of agents.keys()) showAgent(k); return; }
    for (const a of msg.agents || []) showAgent(key(a.source, a.agent));
    // A card new on this delta gets its agent's state too.
    for (const c of msg.extensions || []) showAgent(key(c.source, c.number));
  }
  document.addEventListener('board:snapshot', (ev) => take(ev.detail, true));
  document.addEventListener('board:delta', (ev) => take(ev.detail, false));

  // One timer for every ticking wait.
  setInterval(() => {
    for (const { data: q, el: e } of queues.values()) if (q.waiting) tick(e, q);
  }, 1000);
})();
