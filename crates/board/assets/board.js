// Switchboard live extension board. Plain JavaScript, no build step.
// Data comes from the server-sent events of /events (see docs/board.md):
// `snapshot` replaces everything, `delta` merges the changed fields of
// cards and calls by key.
// Everything from the server is untrusted text: it only ever goes into
// textContent or attributes, never into HTML.
'use strict';

(() => {
  const RECENT_MIN = 50; // newest calls kept (more if a snapshot sends more)
  const TONE_GAP_MS = 300; // at most one alert tone per this interval
  const BACKOFF_MIN = 1000, BACKOFF_MAX = 15000;
  const PENDING_TIMEOUT_MS = 20000; // re-enable a hang-up that got no delta
  const LIVE = new Set(['ringing', 'incall']);
  const STATUS_WORDS = { ringing: 'Ringing', incall: 'In call', online: 'Online', offline: 'Offline' };
  const PRESENCE_WORDS = {
    available: 'Available', away: 'Away', dnd: 'Do not disturb', lunch: 'Lunch',
    business_trip: 'Business trip', off_work: 'Off work',
  };
  const CALL_STATUS_WORDS = { ringing: 'Ringing', active: 'In call', ended: 'Ended' };
  const DIRECTIONS = {
    inbound: { arrow: '←', word: 'Inbound', prep: 'from' },
    outbound: { arrow: '→', word: 'Outbound', prep: 'to' },
    internal: { arrow: '↔', word: 'Internal', prep: 'with' },
  };
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  const $ = (sel) => document.querySelector(sel);
  const board = $('#board'), cardsEl = $('#cards'), recentEl = $('#recent-calls');
  const noticeEl = $('#notice'), connEl = $('#connection'), emptyEl = $('#cards-empty');
  const sourceSel = $('[data-filter=source]'), searchIn = $('[data-filter=search]');
  const soundBtn = $('[data-action=enable-sound]'), muteBtn = $('[data-action=mute]');
  const alertSel = $('[data-setting=alert-on]');
  const isOperator = ['operator', 'supervisor'].includes(document.body.dataset.role);

  // ---- state ----
  const cards = new Map(); // "source\u0000number" -> {data, el}
  const calls = new Map(); // "source\u0000call_id" -> call
  const sources = new Set();
  const pending = new Map(); // card key -> {callId, timer} while a hang-up runs
  let recentLimit = RECENT_MIN;
  let clockOffset = 0; // server clock minus browser clock, in ms
  const key = (a, b) => a + '\u0000' + b;
  const serverNow = () => Date.now() + clockOffset;

  // ---- small helpers ----
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(e, text) { if (e.textContent !== text) e.textContent = text; }
  function store(k, v) { try { localStorage.setItem(k, v); } catch (_) { /* private mode */ } }
  function load(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
  // Seconds as m:ss / mm:ss, or h:mm:ss past an hour.
  function fmtDuration(sec, padMinutes) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    const ss = String(s).padStart(2, '0');
    if (h > 0) return h + ':' + String(m).padStart(2, '0') + ':' + ss;
    return (padMinutes ? String(m).padStart(2, '0') : String(m)) + ':' + ss;
  }
  const since = (iso) => { const t = Date.parse(iso); return Number.isNaN(t) ? null : (serverNow() - t) / 1000; };
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, ' ');
  function presenceWords(p) {
    if (!p) return '';
    if (p.startsWith('unknown:')) return p.slice(8);
    return PRESENCE_WORDS[p] || p;
  }
  let noticeTimer = 0;
  function notice(text) {
    noticeEl.textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { noticeEl.textContent = ''; }, 15000);
  }

  // ---- header: who is logged in ----
  $('#user-name').textContent = document.body.dataset.user || '';
  $('#user-role').textContent = document.body.dataset.role ? '(' + document.body.dataset.role + ')' : '';

  // ---- cards ----
  // The live call of a card (only while ringing or in call).
  const liveCall = (c) => (LIVE.has(c.status) && c.call ? c.call : null);
  function cardDuration(c) {
    const call = liveCall(c);
    if (!call) return '';
    const from = c.status === 'incall' ? (call.answered_at || call.started_at) : call.started_at;
    const s = from ? since(from) : null;
    return s == null ? '' : fmtDuration(s, true);
  }
  function statusWords(c) {
    let w = STATUS_WORDS[c.status] || cap(c.status || 'unknown');
    if (c.status === 'incall' && c.call && c.call.on_hold) w += ', on hold';
    return w;
  }
  function cardLabel(c, dur) {
    const call = liveCall(c);
    let s = 'Extension ' + c.number + (c.name ? ' ' + c.name : '') + ': ' + (STATUS_WORDS[c.status] || c.status);
    if (call && call.party) s += ' with ' + call.party;
    if (call && call.on_hold) s += ', on hold';
    if (dur) s += ', ' + dur;
    const p = presenceWords(c.presence);
    if (p) s += ' (' + p + ')';
    return s;
  }

  function createCard() {
    const e = el('article', 'card');
    const head = el('div', 'card-head');
    head.append(el('span', 'number'), el('span', 'source-tag'));
    head.firstChild.dataset.field = 'number';
    head.lastChild.dataset.field = 'source';
    const name = el('div', 'name'); name.dataset.field = 'name';
    const line = el('div', 'status-line');
    const st = el('span', 'status'); st.dataset.field = 'status';
    const pr = el('span', 'presence'); pr.dataset.field = 'presence';
    line.append(st, pr);
    const callLine = el('div', 'call-line');
    const party = el('span', 'party'); party.dataset.field = 'party';
    const dur = el('span', 'duration'); dur.dataset.field = 'duration';
    callLine.append(party, dur);
    const actions = el('div', 'actions');
    e.append(head, name, line, callLine, actions);
    return e;
  }

  // Bring one card element up to date with its data.
  function fillCard(e, c) {
    const f = (n) => e.querySelector('[data-field=' + n + ']');
    const call = liveCall(c);
    e.dataset.source = c.source;
    e.dataset.extension = c.number;
    e.dataset.status = c.status;
    // The live call, for the call control of actions.js.
    if (call) { e.dataset.callId = call.call_id; e.dataset.legId = call.leg_id; } else { delete e.dataset.callId; delete e.dataset.legId; }
    e.classList.toggle('on-hold', !!(call && call.on_hold));
    setText(f('number'), c.number);
    setText(f('source'), c.source);
    setText(f('name'), c.name || '');
    setText(f('status'), statusWords(c));
    const p = presenceWords(c.presence);
    setText(f('presence'), p);
    f('presence').hidden = !p;
    // The other party, with the direction as an arrow (hidden from screen
    // readers) and a word.
    const partyEl = f('party');
    partyEl.replaceChildren();
    if (call) {
      const d = DIRECTIONS[call.direction];
      if (d) {
        const arrow = el('span', 'arrow', d.arrow);
        arrow.setAttribute('aria-hidden', 'true');
        partyEl.append(arrow, ' ');
      }
      partyEl.append((d ? d.prep : 'with') + ' ', el('span', 'party-number', call.party || 'unknown number'));
    }
    const dur = cardDuration(c);
    setText(f('duration'), dur);
    e.setAttribute('aria-label', cardLabel(c, dur));

    // Pending hang-up: kept while the same call is still live on this card.
    const k = key(c.source, c.number);
    const pend = pending.get(k);
    if (pend && (!call || call.call_id !== pend.callId)) { clearTimeout(pend.timer); pending.delete(k); }
    const isPending = pending.has(k);
    e.classList.toggle('pending', isPending);
    if (isPending) e.setAttribute('aria-busy', 'true'); else e.removeAttribute('aria-busy');

    // Hang-up button: operators only, ringing and in-call cards only.
    const actions = e.querySelector('.actions');
    let btn = actions.querySelector('button[data-action=hangup]');
    if (isOperator && call && call.call_id) {
      if (!btn) {
        btn = el('button', 'hangup');
        btn.type = 'button';
        btn.dataset.action = 'hangup';
        actions.append(btn);
      }
      btn.disabled = isPending;
      setText(btn, isPending ? 'Hanging up…' : 'Hang up');
      btn.setAttribute('aria-label', (isPending ? 'Hanging up' : 'Hang up') + ' the call of extension ' + c.number);
    } else if (btn) {
      btn.remove();
    }
  }

  function upsertCard(c) {
    const k = key(c.source, c.number);
    let entry = cards.get(k);
    const prev = entry ? entry.data.status : undefined;
    if (!entry) { entry = { data: c, el: createCard() }; cards.set(k, entry); }
    entry.data = c;
    fillCard(entry.el, c);
    if (!sources.has(c.source)) addSource(c.source);
    return prev;
  }

  // Put card elements in order (source, then number, numeric-aware), moving
  // only those out of place so focus and animations are left alone.
  function orderCards() {
    const sorted = [...cards.values()].sort((a, b) =>
      collator.compare(a.data.source, b.data.source) || collator.compare(a.data.number, b.data.number));
    sorted.forEach((entry, i) => {
      const at = cardsEl.children[i];
      if (at !== entry.el) cardsEl.insertBefore(entry.el, at || null);
    });
  }

  // ---- filters and counts ----
  function addSource(s) {
    sources.add(s);
    const opts = [...sources].sort(collator.compare);
    const o = el('option', null, s); o.value = s;
    const before = [...sourceSel.options].slice(1)[opts.indexOf(s)] || null;
    sourceSel.insertBefore(o, before);
  }
  function applyFilters() {
    const src = sourceSel.value;
    const q = searchIn.value.trim().toLowerCase();
    const counts = { ringing: 0, incall: 0, online: 0, offline: 0 };
    let shown = 0;
    for (const { data: c, el: e } of cards.values()) {
      const ok = (!src || c.source === src) &&
        (!q || c.number.toLowerCase().includes(q) || (c.name || '').toLowerCase().includes(q));
      e.hidden = !ok;
      if (ok) { shown++; if (c.status in counts) counts[c.status]++; }
    }
    for (const s in counts) setText($('[data-count=' + s + ']'), String(counts[s]));
    emptyEl.hidden = shown > 0;
    emptyEl.textContent = cards.size ? 'No extension matches the filters.' : 'No extensions yet.';
  }
  sourceSel.addEventListener('change', applyFilters);
  searchIn.addEventListener('input', applyFilters);

  // ---- recent calls ----
  function fmtTime(iso) {
    const t = Date.parse(iso || '');
    if (Number.isNaN(t)) return '';
    const d = new Date(t);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return d.toDateString() === new Date(serverNow()).toDateString() ? time : d.toLocaleDateString() + ' ' + time;
  }
  function callDuration(call) {
    if (call.duration_seconds != null) return fmtDuration(call.duration_seconds);
    if (call.talk_seconds != null) return fmtDuration(call.talk_seconds) + ' talk';
    if (call.status !== 'ended' && call.started_at) { const s = since(call.started_at); return s == null ? '' : fmtDuration(s); }
    return '';
  }
  function renderCalls() {
    const list = [...calls.values()].sort((a, b) => b.id - a.id);
    for (const c of list.slice(recentLimit)) calls.delete(key(c.source, c.call_id));
    const rows = list.slice(0, recentLimit).map((c) => {
      const tr = el('tr');
      tr.dataset.status = c.status || '';
      const d = DIRECTIONS[c.direction];
      const status = c.status === 'ended' && c.disposition ? cap(c.disposition) : (CALL_STATUS_WORDS[c.status] || cap(c.status || ''));
      const dur = el('td', 'num', callDuration(c));
      if (c.status !== 'ended' && c.duration_seconds == null && c.talk_seconds == null && c.started_at) {
        dur.classList.add('live'); dur.dataset.since = c.started_at;
      }
      const rec = el('td');
      if (typeof c.recording_url === 'string' && /^https?:\/\//i.test(c.recording_url)) {
        const a = el('a', null, 'Play');
        a.href = c.recording_url; a.rel = 'noopener noreferrer'; a.target = '_blank';
        a.setAttribute('aria-label', 'Play recording of the call from ' + (c.from_number || 'unknown') + ' to ' + (c.to_number || 'unknown'));
        rec.append(a);
      } else if (typeof c.recording_url === 'string' && c.recording_url) {
        // Yeastar names the file only (fetched through its API): show the
        // name, as text, so that it can be found on the PBX.
        const name = el('span', 'recording-file', 'File');
        name.title = c.recording_url;
        rec.append(name);
      }
      tr.append(el('td', 'num', fmtTime(c.started_at)), el('td', null, c.source),
        el('td', null, d ? d.arrow + ' ' + d.word : (c.direction ? cap(c.direction) : '')),
        el('td', 'num', c.from_number || ''), el('td', 'num', c.to_number || ''),
        el('td', 'call-status', status), dur, rec);
      return tr;
    });
    recentEl.replaceChildren(...rows);
  }

  // ---- sound ----
  let audio = null, soundOn = false, lastTone = -Infinity, alerts = 0;
  let muted = load('switchboard.muted') === 'true';
  let alertOn = ['answer', 'ringing', 'never'].includes(load('switchboard.alertOn')) ? load('switchboard.alertOn') : 'answer';
  alertSel.value = alertOn;
  function showSound() {
    soundBtn.setAttribute('aria-pressed', String(soundOn));
    soundBtn.textContent = soundOn ? 'Sound on' : 'Enable sound';
    muteBtn.setAttribute('aria-pressed', String(muted));
    muteBtn.textContent = muted ? 'Muted' : 'Mute';
    board.classList.toggle('sound-on', soundOn && !muted);
  }
  soundBtn.addEventListener('click', () => {
    // This click is the user gesture that lets the AudioContext run.
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { notice('This browser cannot play sounds.'); return; }
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    soundOn = true;
    showSound();
  });
  muteBtn.addEventListener('click', () => { muted = !muted; store('switchboard.muted', String(muted)); showSound(); });
  alertSel.addEventListener('change', () => { alertOn = alertSel.value; store('switchboard.alertOn', alertOn); });
  showSound();

  // A short two-note chime (~0.6 s) from two sine oscillators.
  function chime() {
    const t0 = audio.currentTime + 0.01;
    [[659.25, 0], [987.77, 0.16]].forEach(([freq, at]) => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.44);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.46);
    });
    alerts++;
    board.dataset.alerts = String(alerts);
  }
  function alertTone() {
    if (!soundOn || muted || alertOn === 'never' || !audio) return;
    const now = performance.now();
    if (now - lastTone < TONE_GAP_MS) return;
    lastTone = now;
    if (audio.state === 'running') chime();
    else if (audio.state === 'suspended') audio.resume().then(() => { if (audio.state === 'running') chime(); }, () => {});
  }
  // Is this status change news worth a sound in the current mode?
  const alertWorthy = (prev, next) => prev !== next &&
    ((alertOn === 'answer' && next === 'incall') || (alertOn === 'ringing' && next === 'ringing'));

  // ---- applying server events ----
  function takeClock(msg) {
    const t = Date.parse(msg.now || '');
    if (!Number.isNaN(t)) clockOffset = t - Date.now();
  }
  function onSnapshot(msg) {
    takeClock(msg);
    const keep = new Set((msg.extensions || []).map((c) => key(c.source, c.number)));
    for (const [k, entry] of cards) {
      if (!keep.has(k)) { entry.el.remove(); cards.delete(k); const p = pending.get(k); if (p) { clearTimeout(p.timer); pending.delete(k); } }
    }
    (msg.extensions || []).forEach(upsertCard);
    orderCards();
    applyFilters();
    calls.clear();
    recentLimit = Math.max(RECENT_MIN, (msg.calls || []).length);
    (msg.calls || []).forEach((c) => calls.set(key(c.source, c.call_id), c));
    renderCalls();
    tell('snapshot', msg);
  }
  function onDelta(msg) {
    takeClock(msg);
    let added = false, alert = false;
    // A delta holds each card's and call's key fields and what changed
    // (whole when new to this page): merged into what the page holds.
    for (const p of msg.extensions || []) {
      const entry = cards.get(key(p.source, p.number));
      const c = entry ? Object.assign({}, entry.data, p) : p;
      const prev = upsertCard(c);
      added = added || !entry;
      if (alertWorthy(prev, c.status)) alert = true;
    }
    if (added) orderCards();
    applyFilters();
    if (msg.calls && msg.calls.length) {
      msg.calls.forEach((p) => {
        const k = key(p.source, p.call_id);
        calls.set(k, Object.assign({}, calls.get(k), p));
      });
      renderCalls();
    }
    if (alert) alertTone();
    tell('delta', msg);
  }
  // The other scripts of the page (queues.js, missed.js) follow the same
  // events, after the cards are up to date.
  function tell(kind, msg) { document.dispatchEvent(new CustomEvent('board:' + kind, { detail: msg })); }

  // ---- the live connection ----
  let es = null, backoff = BACKOFF_MIN, retryTimer = 0, errors = 0;
  function setConn(state, words) {
    connEl.dataset.state = state;
    setText(connEl.querySelector('.words'), words);
    board.classList.toggle('stale', state !== 'live');
  }
  function handle(fn) {
    return (ev) => {
      try { fn(JSON.parse(ev.data)); } catch (err) { console.error('board: bad event', err); }
    };
  }
  function connect() {
    retryTimer = 0;
    es = new EventSource('/events');
    es.addEventListener('open', () => { errors = 0; backoff = BACKOFF_MIN; setConn('live', 'Live'); });
    es.addEventListener('snapshot', (ev) => { setConn('live', 'Live'); handle(onSnapshot)(ev); });
    es.addEventListener('delta', handle(onDelta));
    // The board lost its database feed: what is shown may be out of date
    // until the next snapshot.
    es.addEventListener('stale', () => setConn('reconnecting', 'Paused: the board is reconnecting to the database…'));
    es.addEventListener('error', onError);
  }
  function onError() {
    errors++;
    setConn(errors > 3 ? 'offline' : 'reconnecting', errors > 3 ? 'Offline, retrying…' : 'Reconnecting…');
    if (es.readyState !== EventSource.CLOSED || retryTimer) return; // the browser retries by itself
    es.close();
    retryTimer = -1; // a check is under way
    fetch('/api/me', { credentials: 'same-origin', cache: 'no-store' }).then((r) => {
      if (r.status === 401) { window.location.href = '/login'; return; }
      retryLater('reconnecting', 'Reconnecting in ');
    }, () => retryLater('offline', 'Offline, retrying in '));
  }
  function retryLater(state, words) {
    setConn(state, words + Math.round(backoff / 1000) + ' s…');
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
  }

  // ---- hang-up (operators) ----
  cardsEl.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action=hangup]');
    if (!btn || btn.disabled) return;
    const cardEl = btn.closest('.card');
    const k = key(cardEl.dataset.source, cardEl.dataset.extension);
    const entry = cards.get(k);
    const call = entry && liveCall(entry.data);
    if (!call) return;
    const c = entry.data;
    const who = 'extension ' + c.number + (c.name ? ' (' + c.name + ')' : '') + (call.party ? ' with ' + call.party : '');
    if (!window.confirm('Hang up the call of ' + who + '?')) return;
    const timer = setTimeout(() => { pending.delete(k); refresh(k); }, PENDING_TIMEOUT_MS);
    pending.set(k, { callId: call.call_id, timer });
    refresh(k);
    const url = '/api/calls/' + encodeURIComponent(c.source) + '/' + encodeURIComponent(call.call_id) + '/hangup';
    fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ leg_id: call.leg_id }), credentials: 'same-origin',
    }).then(async (r) => {
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      const text = (body && (body.error || body.result)) || (r.ok ? 'Hang-up sent.' : 'Hang-up failed (HTTP ' + r.status + ').');
      notice(text);
      if (!r.ok || (body && body.error)) fail(k);
    }, () => { notice('Hang-up failed: the server could not be reached.'); fail(k); });
  });
  function fail(k) { const p = pending.get(k); if (p) clearTimeout(p.timer); pending.delete(k); refresh(k); }
  function refresh(k) { const entry = cards.get(k); if (entry) fillCard(entry.el, entry.data); }

  // ---- one timer for every running duration ----
  setInterval(() => {
    for (const { data: c, el: e } of cards.values()) {
      if (!liveCall(c)) continue;
      const dur = cardDuration(c);
      setText(e.querySelector('[data-field=duration]'), dur);
      e.setAttribute('aria-label', cardLabel(c, dur));
    }
    for (const td of recentEl.querySelectorAll('td.live')) {
      const s = since(td.dataset.since);
      setText(td, s == null ? '' : fmtDuration(s));
    }
  }, 1000);

  applyFilters();
  connect();
})();
