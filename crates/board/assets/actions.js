// Switchboard call control on the board (issue 23): a menu on each live
// call (transfer blind or attended, park, hold, listen/whisper/barge),
// drag a ringing or in-call card onto another extension to transfer, a
// presence control on each extension card, pause/resume per queue on an
// agent's card. Plain JavaScript, no build step; board.js draws the cards
// and this file adds the tools to them (it reads the card's data-source,
// data-extension, data-status, data-call-id and data-leg-id).
//
// Buttons exist only for what the logged-in role may do on the card's
// source (GET /api/capabilities): never a button that fails for a reason
// known beforehand. The card changes only when the phone system's events
// arrive; what the server answers is shown in #notice, as text.
'use strict';

(() => {
  const CALL_KINDS = [
    ['transfer', 'Transfer…'], ['park', 'Park'], ['hold', 'Hold'], ['listen', 'Listen…'],
  ];
  const PRESENCE_WORDS = {
    available: 'Available', away: 'Away', dnd: 'Do not disturb', lunch: 'Lunch',
    business_trip: 'Business trip', off_work: 'Off work',
  };
  const DRAG_START_PX = 6;

  const cardsEl = document.getElementById('cards');
  const noticeEl = document.getElementById('notice');
  if (!cardsEl) return;
  const caps = new Map(); // source -> {actions, presences, notes}
  const agents = new Map(); // "source\0agent" -> [{queue, state, reason}]
  const consults = new Map(); // "source\0ext" -> {callId, legId, to}
  const key = (a, b) => a + '\u0000' + b;
  let menuSeq = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function button(action, text, label) {
    const b = el('button', 'tool', text);
    b.type = 'button';
    b.dataset.action = action;
    if (label) b.setAttribute('aria-label', label);
    return b;
  }
  function say(text) { if (noticeEl) noticeEl.textContent = text; }
  function can(source, kind) {
    const c = caps.get(source);
    return !!(c && c.actions[kind] && c.actions[kind].available);
  }
  const callOf = (card) => card.dataset.callId
    ? { source: card.dataset.source, callId: card.dataset.callId, legId: card.dataset.legId }
    : null;
  const who = (card) => 'extension ' + card.dataset.extension;

  // ---- talking to the server ----
  async function post(path, body, what) {
    let r;
    try {
      r = await fetch(path, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body), credentials: 'same-origin',
      });
    } catch (_) {
      say(what + ' failed: the server could not be reached.');
      return false;
    }
    let b = null;
    try { b = await r.json(); } catch (_) { /* not JSON */ }
    say((b && (b.error || b.result)) || (what + (r.ok ? ' sent.' : ' failed (HTTP ' + r.status + ').')));
    return r.ok;
  }
  // While a request of a card runs, its tools are disabled (a double
  // click acts once; the server refuses a second action on the call too).
  async function busy(card, request) {
    card.dataset.acting = 'true';
    for (const b of card.querySelectorAll('.card-tools button')) b.disabled = true;
    try { return await request; } finally {
      delete card.dataset.acting;
      for (const b of card.querySelectorAll('.card-tools button')) b.disabled = false;
    }
  }
  function onCall(card, action, body, what) {
    const c = callOf(card);
    if (!c) { say('This call has ended.'); return Promise.resolve(false); }
    const url = '/api/calls/' + encodeURIComponent(c.source) + '/' + encodeURIComponent(c.callId) + '/' + action;
    return busy(card, post(url, Object.assign({ leg_id: c.legId }, body), what));
  }
  function onExtension(card, action, body, what) {
    const url = '/api/extensions/' + encodeURIComponent(card.dataset.source) + '/' +
      encodeURIComponent(card.dataset.extension) + '/' + action;
    return busy(card, post(url, body, what));
  }
  async function getJson(path) {
    try {
      const r = await fetch(path, { credentials: 'same-origin' });
      return r.ok ? await r.json() : null;
    } catch (_) { return null; }
  }
  async function loadCaps() {
    const v = await getJson('/api/capabilities');
    if (!v) return;
    caps.clear();
    for (const s of v.sources || []) caps.set(s.source, s);
    decorateAll();
  }
  async function loadAgents() {
    if (![...caps.values()].some((c) => c.actions.pause && c.actions.pause.available)) return;
    const v = await getJson('/api/agents');
    if (!Array.isArray(v)) return;
    agents.clear();
    for (const a of v) agents.set(key(a.source, a.agent), a.queues || []);
    decorateAll();
  }

  // ---- the dialog (one, reused) ----
  const dialog = el('dialog', 'action-dialog');
  dialog.id = 'action-dialog';
  document.body.append(dialog);
  // Opens the dialog titled `title` with `fields` and `buttons`
  // ([action, text, handler(form) -> false to stay open]). The first
  // button is also what Enter in a field does.
  function openDialog(title, fields, buttons) {
    const form = el('form');
    form.method = 'dialog';
    const h = el('h2', null, title);
    h.id = 'action-dialog-title';
    dialog.setAttribute('aria-labelledby', h.id);
    const row = el('div', 'dialog-buttons');
    const handlers = new Map();
    for (const [action, text, fn] of buttons) {
      const b = button(action, text);
      b.type = 'submit';
      handlers.set(b, fn);
      row.append(b);
    }
    const cancel = button('close', 'Cancel');
    cancel.addEventListener('click', () => dialog.close());
    row.append(cancel);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fn = handlers.get(ev.submitter) || buttons[0][2];
      if (await fn(form) !== false) dialog.close();
    });
    form.append(h, ...fields, row);
    dialog.replaceChildren(form);
    dialog.showModal();
    const first = form.querySelector('input, select, button');
    if (first) first.focus();
  }
  function field(label, input) {
    const l = el('label', 'dialog-field', label + ' ');
    l.append(input);
    return l;
  }
  function select(name, options) {
    const s = el('select');
    s.name = name;
    for (const [value, text] of options) {
      const o = el('option', null, text);
      o.value = value;
      s.append(o);
    }
    return s;
  }

  // ---- actions ----
  function transferDialog(card) {
    const c = caps.get(card.dataset.source);
    const to = el('input');
    Object.assign(to, { name: 'to', required: true, inputMode: 'tel', autocomplete: 'off', maxLength: 32 });
    to.pattern = '\\+?[0-9*#]{1,31}';
    const modes = [['blind', 'Blind: now']];
    if (c && c.actions.attended_transfer && c.actions.attended_transfer.available) {
      modes.push(['attended', 'Attended: consult first']);
    }
    const mode = select('mode', modes);
    openDialog('Transfer the call of ' + who(card), [field('To number', to), field('How', mode)], [
      ['transfer-send', 'Transfer', (f) => { transfer(card, f.elements.to.value.trim(), f.elements.mode.value); }],
    ]);
  }
  async function transfer(card, to, mode) {
    const c = callOf(card);
    const ok = await onCall(card, 'transfer', { to, mode }, 'Transfer');
    if (ok && mode === 'attended' && c) {
      consults.set(key(card.dataset.source, card.dataset.extension), { callId: c.callId, legId: c.legId, to });
      decorate(card);
    }
  }
  // Completes or cancels the consult started from `card`: on the
  // original call (the card may show the consult call meanwhile).
  async function finishConsult(card, mode) {
    const k = key(card.dataset.source, card.dataset.extension);
    const c = consults.get(k);
    if (!c) return;
    const url = '/api/calls/' + encodeURIComponent(card.dataset.source) + '/' + encodeURIComponent(c.callId) + '/transfer';
    const what = mode === 'complete' ? 'Transfer' : 'Cancelling the transfer';
    if (await busy(card, post(url, { leg_id: c.legId, mode }, what))) {
      consults.delete(k);
      decorate(card);
    }
  }
  function listenDialog(card) {
    const mode = select('mode', [
      ['listen', 'Listen (nobody hears you)'], ['whisper', 'Whisper (the agent hears you)'],
      ['barge', 'Barge in (both hear you)'],
    ]);
    openDialog('Join the call of ' + who(card) + ' from your phone', [field('How', mode)], [
      ['listen-send', 'Call my phone', (f) => {
        const m = f.elements.mode.value;
        if (m === 'barge' && !window.confirm('Barge into the call of ' + who(card) + '? The caller will hear you.')) return false;
        onCall(card, 'listen', { mode: m }, 'Listening');
        return true;
      }],
    ]);
  }
  function presenceDialog(card) {
    const c = caps.get(card.dataset.source);
    const s = select('status', (c.presences || []).map((p) => [p, PRESENCE_WORDS[p] || p]));
    const fields = [field('Presence', s)];
    if (c.presence_note) fields.push(el('p', 'dialog-note', c.presence_note));
    openDialog('Presence of ' + who(card), fields, [
      ['presence-send', 'Set', (f) => { onExtension(card, 'presence', { status: f.elements.status.value }, 'Presence'); }],
    ]);
  }
  function pauseDialog(card) {
    const qs = agents.get(key(card.dataset.source, card.dataset.extension)) || [];
    const q = select('queue', qs.map((x) => [x.queue, (x.queue || 'all call centres') + ' (' + x.state + (x.reason ? ': ' + x.reason : '') + ')']));
    const reason = el('input');
    Object.assign(reason, { name: 'reason', maxLength: 100, autocomplete: 'off', placeholder: 'Lunch, training…' });
    const fields = [field('Queue', q), field('Reason', reason)];
    const note = (caps.get(card.dataset.source).notes || {}).pause;
    if (note) fields.push(el('p', 'dialog-note', note));
    openDialog('Agent ' + card.dataset.extension + ' in a queue', fields, [
      ['pause-send', 'Pause', (f) => { onExtension(card, 'pause', { queue: f.elements.queue.value, reason: f.elements.reason.value }, 'Pause'); }],
      ['resume-send', 'Resume', (f) => { onExtension(card, 'resume', { queue: f.elements.queue.value }, 'Resume'); }],
    ]);
  }
  function simple(card, action, question, what) {
    if (!window.confirm(question)) return;
    onCall(card, action, {}, what);
  }

  // ---- the tools on each card ----
  function decorate(card) {
    const src = card.dataset.source, ext = card.dataset.extension;
    if (!src || !ext) return;
    const call = callOf(card);
    const live = !!call && (card.dataset.status === 'ringing' || card.dataset.status === 'incall');
    const callKinds = live ? CALL_KINDS.filter(([k]) => can(src, k)) : [];
    const consult = consults.get(key(src, ext));
    // A consult lasts while the card is in a call (it may show the consult
    // call rather than the original one meanwhile).
    if (consult && !live) consults.delete(key(src, ext));
    const pausable = can(src, 'pause') && (agents.get(key(src, ext)) || []).length > 0;
    const sig = [callKinds.map((k) => k[0]).join(','), consults.has(key(src, ext)), can(src, 'presence'), pausable].join('|');
    let tools = card.querySelector(':scope > .card-tools');
    if (live && can(src, 'transfer')) card.dataset.draggable = 'true'; else delete card.dataset.draggable;
    if (tools && tools.dataset.sig === sig) return;
    const wasOpen = tools && tools.querySelector('.call-menu:not([hidden])');
    if (!tools) { tools = el('div', 'card-tools'); card.append(tools); }
    tools.dataset.sig = sig;
    tools.replaceChildren();
    if (callKinds.length) {
      const id = 'call-menu-' + (++menuSeq);
      const open = button('menu', 'Call ▾', 'Call actions for ' + who(card));
      open.setAttribute('aria-haspopup', 'menu');
      open.setAttribute('aria-expanded', 'false');
      open.setAttribute('aria-controls', id);
      const menu = el('div', 'call-menu');
      menu.id = id;
      menu.setAttribute('role', 'menu');
      menu.hidden = true;
      for (const [k, text] of callKinds) {
        const b = button(k, text);
        b.setAttribute('role', 'menuitem');
        b.tabIndex = -1;
        menu.append(b);
      }
      tools.append(open, menu);
      if (wasOpen) toggleMenu(open, true);
    }
    if (consults.has(key(src, ext))) {
      const c = consults.get(key(src, ext));
      tools.append(button('transfer-complete', 'Complete transfer', 'Complete the transfer to ' + c.to),
        button('transfer-cancel', 'Cancel transfer', 'Cancel the transfer to ' + c.to));
    }
    if (can(src, 'presence')) tools.append(button('presence', 'Presence…', 'Set the presence of ' + who(card)));
    if (pausable) tools.append(button('pause', 'Pause…', 'Pause or resume agent ' + ext + ' in a queue'));
    if (!tools.childElementCount) tools.remove();
  }
  function decorateAll() {
    for (const card of cardsEl.querySelectorAll('.card')) decorate(card);
  }

  // ---- the call menu: a button that opens a list of items, with arrows ----
  function toggleMenu(btn, open) {
    const menu = document.getElementById(btn.getAttribute('aria-controls'));
    if (!menu) return;
    const show = open == null ? menu.hidden : open;
    for (const m of cardsEl.querySelectorAll('.call-menu:not([hidden])')) {
      if (m !== menu) { m.hidden = true; const b = cardsEl.querySelector('[aria-controls="' + m.id + '"]'); if (b) b.setAttribute('aria-expanded', 'false'); }
    }
    menu.hidden = !show;
    btn.setAttribute('aria-expanded', String(show));
    if (show) {
      menu.scrollIntoView({ block: 'nearest' });
      const first = menu.querySelector('button');
      if (first) first.focus({ preventScroll: true });
    }
  }
  cardsEl.addEventListener('keydown', (ev) => {
    const menu = ev.target.closest('.call-menu');
    if (!menu) return;
    const items = [...menu.querySelectorAll('button')];
    const i = items.indexOf(ev.target);
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const n = items.length;
      items[(i + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n].focus();
    } else if (ev.key === 'Escape' || ev.key === 'Tab') {
      const btn = cardsEl.querySelector('[aria-controls="' + menu.id + '"]');
      if (ev.key === 'Escape') ev.preventDefault();
      if (btn) { toggleMenu(btn, false); if (ev.key === 'Escape') btn.focus(); }
    }
  });
  cardsEl.addEventListener('click', (ev) => {
    const btn = ev.target.closest('.card-tools button');
    if (!btn) return;
    const card = btn.closest('.card');
    const a = btn.dataset.action;
    if (a === 'menu') { toggleMenu(btn); return; }
    const menu = btn.closest('.call-menu');
    if (menu) { const m = cardsEl.querySelector('[aria-controls="' + menu.id + '"]'); if (m) toggleMenu(m, false); }
    if (a === 'transfer') transferDialog(card);
    else if (a === 'park') simple(card, 'park', 'Park the call of ' + who(card) + '? The caller waits in a parking slot.', 'Park');
    else if (a === 'hold') simple(card, 'hold', 'Put the call of ' + who(card) + ' on hold?', 'Hold');
    else if (a === 'listen') listenDialog(card);
    else if (a === 'presence') presenceDialog(card);
    else if (a === 'pause') pauseDialog(card);
    else if (a === 'transfer-complete') finishConsult(card, 'complete');
    else if (a === 'transfer-cancel') finishConsult(card, 'cancel');
  });
  document.addEventListener('click', (ev) => {
    if (ev.target.closest('.card-tools')) return;
    for (const b of cardsEl.querySelectorAll('[data-action=menu][aria-expanded=true]')) toggleMenu(b, false);
  });

  // ---- drag a live card onto another extension: a blind transfer ----
  let drag = null;
  function dropTarget(x, y) {
    const t = document.elementFromPoint(x, y);
    const card = t && t.closest('#cards .card');
    if (!card || card === drag.card || card.dataset.source !== drag.card.dataset.source) return null;
    return card.dataset.status === 'offline' ? null : card;
  }
  function endDrag() {
    if (!drag) return;
    if (drag.ghost) drag.ghost.remove();
    if (drag.over) drag.over.classList.remove('drop-target');
    drag.card.classList.remove('dragging');
    document.body.classList.remove('dragging-call');
    drag = null;
  }
  cardsEl.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0 || ev.target.closest('button, select, input, a')) return;
    const card = ev.target.closest('.card[data-draggable=true]');
    if (card) drag = { card, x: ev.clientX, y: ev.clientY, started: false, over: null, ghost: null };
  });
  document.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    if (!drag.started) {
      if (Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) < DRAG_START_PX) return;
      drag.started = true;
      drag.ghost = el('div', 'drag-ghost', 'Transfer the call of ' + drag.card.dataset.extension + ' to…');
      drag.ghost.setAttribute('aria-hidden', 'true');
      document.body.append(drag.ghost);
      drag.card.classList.add('dragging');
      document.body.classList.add('dragging-call');
    }
    ev.preventDefault();
    drag.ghost.style.transform = 'translate(' + (ev.clientX + 14) + 'px,' + (ev.clientY + 14) + 'px)';
    const over = dropTarget(ev.clientX, ev.clientY);
    if (over !== drag.over) {
      if (drag.over) drag.over.classList.remove('drop-target');
      if (over) over.classList.add('drop-target');
      drag.over = over;
      drag.ghost.textContent = 'Transfer the call of ' + drag.card.dataset.extension + ' to ' + (over ? over.dataset.extension : '…');
    }
  });
  document.addEventListener('pointerup', (ev) => {
    if (!drag) return;
    const { card, started } = drag;
    const over = started ? dropTarget(ev.clientX, ev.clientY) : null;
    endDrag();
    if (!over) return;
    const to = over.dataset.extension;
    if (window.confirm('Transfer the call of ' + who(card) + ' to extension ' + to + '?')) {
      onCall(card, 'transfer', { to, mode: 'blind' }, 'Transfer');
    }
  });
  document.addEventListener('pointercancel', endDrag);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && drag) endDrag(); });

  // ---- follow board.js's cards ----
  new MutationObserver((records) => {
    const touched = new Set();
    for (const r of records) {
      if (r.type === 'attributes') touched.add(r.target);
      for (const n of r.addedNodes || []) if (n.classList && n.classList.contains('card')) touched.add(n);
    }
    for (const c of touched) if (c.classList.contains('card')) decorate(c);
  }).observe(cardsEl, {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ['data-status', 'data-call-id', 'data-source'],
  });
  loadCaps().then(loadAgents);
  setInterval(() => { loadCaps().then(loadAgents); }, 60000);
})();
