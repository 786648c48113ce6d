// Switchboard console (docs/events.md "Console"): In, the webhooks
// received (GET /api/console/events, a page at a time; one event read with
// GET /api/console/events/{id}; a dead one replayed, or every dead one of a
// source), and Out, each endpoint's deliveries (GET
// /api/console/endpoints/{name}/deliveries; one resent, the given-up ones
// since a time recovered). The view is the address's fragment (#in,
// #out). Text from the server only ever goes into textContent.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const notice = $('notice');
  const form = $('in-search');
  const FIELDS = ['source', 'event_type', 'call_id', 'outcome', 'since', 'until'];
  let eventsNext = null, eventsParams = null, current = null;
  let endpoint = null, deliveriesNext = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function toIso(v) { const t = new Date(v); return Number.isNaN(t.getTime()) ? '' : t.toISOString(); }
  function fmtTime(iso) {
    const t = Date.parse(iso || '');
    return Number.isNaN(t) ? '' : new Date(t).toLocaleString();
  }
  // A short local time for tables: the date only when not today.
  function fmtShort(iso) {
    const t = Date.parse(iso || '');
    if (Number.isNaN(t)) return '';
    const d = new Date(t);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return d.toDateString() === new Date().toDateString() ? time : d.toLocaleDateString() + ' ' + time;
  }
  function say(text) { notice.textContent = text; }

  // A JSON request; answers {ok, status, data}. 401 goes to the login.
  async function call(method, url, body) {
    const opts = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let r, data = null;
    try {
      r = await fetch(url, opts);
      data = await r.json().catch(() => null);
    } catch (_) {
      return { ok: false, status: 0, data: { error: 'the server could not be reached' } };
    }
    if (r.status === 401) { window.location.href = '/login'; }
    return { ok: r.ok, status: r.status, data };
  }
  function failed(what, res) {
    say(what + ' failed: ' + ((res.data && res.data.error) || ('HTTP ' + res.status)) + '.');
  }

  // ---- views ----
  function show() {
    const out = window.location.hash === '#out';
    $('in').hidden = out;
    $('out').hidden = !out;
    const [on, off] = out ? [$('tab-out'), $('tab-in')] : [$('tab-in'), $('tab-out')];
    on.setAttribute('aria-current', 'page');
    off.removeAttribute('aria-current');
    if (out) loadEndpoints();
  }
  window.addEventListener('hashchange', show);

  // ---- In ----
  function fromForm() {
    const p = new URLSearchParams();
    for (const f of FIELDS) {
      let v = (form.elements[f].value || '').trim();
      if ((f === 'since' || f === 'until') && v) v = toIso(v);
      if (v) p.set(f, v);
    }
    return p;
  }
  function eventRow(e) {
    const tr = el('tr');
    tr.dataset.id = String(e.id);
    tr.dataset.outcome = e.outcome;
    tr.tabIndex = 0;
    tr.append(el('td', 'num', String(e.id)), el('td', 'num', fmtShort(e.received_at)),
      el('td', null, e.source), el('td', null, e.event_type || ''),
      el('td', null, null), el('td', 'num', String(e.attempts)), el('td', 'excerpt', e.last_error || ''));
    tr.children[6].title = e.last_error || '';
    tr.children[4].append(el('span', 'outcome', e.outcome));
    tr.addEventListener('click', () => openEvent(e.id));
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') openEvent(e.id); });
    return tr;
  }
  async function loadEvents(append) {
    const p = new URLSearchParams(eventsParams);
    if (append && eventsNext) p.set('before', String(eventsNext));
    const res = await call('GET', '/api/console/events?' + p.toString());
    if (!res.ok) { failed('The search', res); return; }
    const rows = (res.data.events || []).map(eventRow);
    const body = $('events');
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    eventsNext = res.data.next || null;
    $('events-next').hidden = !eventsNext;
    $('events-empty').hidden = body.children.length > 0;
    body.dataset.count = String(body.children.length);
  }
  function search() {
    eventsParams = fromForm();
    history.replaceState(null, '', (eventsParams.toString() ? '?' + eventsParams.toString() : window.location.pathname) + window.location.hash);
    eventsNext = null;
    $('replay-dead').disabled = !eventsParams.get('source');
    loadEvents(false);
  }
  function pair(dl, k, v) {
    if (v == null || v === '') return;
    dl.append(el('dt', null, k), el('dd', null, String(v)));
  }
  async function openEvent(id) {
    const res = await call('GET', '/api/console/events/' + encodeURIComponent(id));
    if (!res.ok) { failed('Reading the event', res); return; }
    const e = res.data;
    current = e;
    for (const tr of $('events').children) tr.setAttribute('aria-selected', String(tr.dataset.id === String(id)));
    $('event').hidden = false;
    $('event').dataset.id = String(e.id);
    $('event').dataset.outcome = e.outcome;
    $('event-title').textContent = 'Event ' + e.id;
    const meta = $('event-meta');
    meta.replaceChildren();
    pair(meta, 'Outcome', e.outcome);
    pair(meta, 'Source', e.source + (e.provider ? ' (' + e.provider + ')' : ''));
    pair(meta, 'Type', e.event_type);
    pair(meta, 'Received', fmtTime(e.received_at));
    pair(meta, 'Processed', fmtTime(e.processed_at));
    pair(meta, 'Attempts', e.attempts);
    pair(meta, 'Next attempt', fmtTime(e.next_attempt_at));
    pair(meta, 'Dead since', fmtTime(e.dead_at));
    const err = $('event-error');
    err.hidden = !e.last_error;
    err.textContent = e.last_error ? (e.outcome === 'applied' || e.outcome === 'ignored' ? 'Earlier attempt failed: ' : 'Error: ') + e.last_error : '';
    const hdr = $('event-headers');
    hdr.replaceChildren();
    for (const [k, v] of Object.entries(e.headers || {})) pair(hdr, k, v);
    $('event-format').textContent = '(' + e.body_format + ', ' + e.body_bytes + ' bytes)';
    $('event-body').textContent = e.body;
    $('replay').hidden = !e.replayable;
    $('replay').disabled = false;
  }
  $('replay').addEventListener('click', async () => {
    if (!current) return;
    $('replay').disabled = true;
    const res = await call('POST', '/api/console/events/' + current.id + '/replay');
    if (!res.ok) { failed('The replay', res); $('replay').disabled = false; return; }
    say('Event ' + current.id + ' re-queued: the worker processes it again.');
    $('replay').hidden = true;
    await loadEvents(false);
    // Shows the outcome once the worker is done (a few polls at most).
    const id = current.id;
    for (let i = 0; i < 10 && current && current.id === id; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await openEvent(id);
      if (current.outcome !== 'pending') break;
    }
    loadEvents(false);
  });
  $('replay-dead').addEventListener('click', async () => {
    const source = eventsParams && eventsParams.get('source');
    if (!source) return;
    $('replay-dead').disabled = true;
    const res = await call('POST', '/api/console/replay-dead', { source });
    $('replay-dead').disabled = false;
    if (!res.ok) { failed('The replay', res); return; }
    say(res.data.replayed + ' dead event(s) of ' + source + ' re-queued.');
    loadEvents(false);
  });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  $('events-next').addEventListener('click', () => loadEvents(true));

  // ---- Out ----
  async function loadEndpoints() {
    const res = await call('GET', '/api/console/endpoints');
    if (!res.ok) { failed('Listing the endpoints', res); return; }
    const body = $('endpoints');
    body.replaceChildren(...res.data.map((e) => {
      const tr = el('tr');
      tr.dataset.endpoint = e.name;
      tr.dataset.state = e.enabled ? (e.failing_since ? 'failed' : 'delivered') : 'failed';
      tr.tabIndex = 0;
      tr.setAttribute('aria-selected', String(e.name === endpoint));
      tr.append(el('td', null, e.name), el('td', 'excerpt', e.url), el('td', null, null),
        el('td', 'num', String(e.pending)), el('td', 'num', String(e.delivered)),
        el('td', 'num', String(e.failed)), el('td', 'num', fmtShort(e.failing_since)));
      tr.children[2].append(el('span', 'outcome', e.enabled ? (e.failing_since ? 'failing' : 'enabled') : 'disabled'));
      if (!e.enabled && e.disabled_reason) tr.children[2].title = e.disabled_reason;
      tr.addEventListener('click', () => openEndpoint(e.name));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') openEndpoint(e.name); });
      return tr;
    }));
    $('endpoints-empty').hidden = body.children.length > 0;
    body.dataset.count = String(body.children.length);
  }
  function deliveryRow(d) {
    const tr = el('tr');
    tr.dataset.id = String(d.id);
    tr.dataset.eventId = d.event_id;
    tr.dataset.state = d.state;
    const resend = el('button', null, 'Resend');
    resend.type = 'button';
    resend.dataset.action = 'resend';
    resend.addEventListener('click', async (ev) => {
      ev.stopPropagation();
      resend.disabled = true;
      const res = await call('POST', '/api/console/endpoints/' + encodeURIComponent(endpoint) + '/resend', { event_id: d.event_id });
      resend.disabled = false;
      if (!res.ok) { failed('The resend', res); return; }
      say(d.event_id + ' will be sent to ' + endpoint + ' again.');
      loadDeliveries(false);
    });
    const answer = d.last_error || d.response_excerpt || '';
    tr.append(el('td', 'num', String(d.id)), el('td', 'excerpt event-id', d.event_id), el('td', null, d.event_type),
      el('td', null, null), el('td', 'num', String(d.attempts)), el('td', 'num', d.last_status == null ? '' : String(d.last_status)),
      el('td', 'num', d.last_latency_ms == null ? '' : d.last_latency_ms + ' ms'),
      el('td', 'num', fmtShort(d.last_attempt_at)), el('td', 'excerpt', answer), el('td', null, null));
    tr.children[1].title = d.event_id;
    tr.children[3].append(el('span', 'outcome', d.state));
    tr.children[8].title = answer;
    tr.children[9].append(resend);
    return tr;
  }
  async function loadDeliveries(append) {
    if (!endpoint) return;
    const p = new URLSearchParams();
    const state = $('out-filter').elements.state.value;
    if (state) p.set('state', state);
    if (append && deliveriesNext) p.set('before', String(deliveriesNext));
    const res = await call('GET', '/api/console/endpoints/' + encodeURIComponent(endpoint) + '/deliveries?' + p.toString());
    if (!res.ok) { failed('Listing the deliveries', res); return; }
    const body = $('deliveries');
    const rows = (res.data.deliveries || []).map(deliveryRow);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    deliveriesNext = res.data.next || null;
    $('deliveries-next').hidden = !deliveriesNext;
    $('deliveries-empty').hidden = body.children.length > 0;
    body.dataset.count = String(body.children.length);
  }
  function openEndpoint(name) {
    endpoint = name;
    for (const tr of $('endpoints').children) tr.setAttribute('aria-selected', String(tr.dataset.endpoint === name));
    $('deliveries-panel').hidden = false;
    $('deliveries-panel').dataset.endpoint = name;
    $('deliveries-title').textContent = 'Deliveries to ' + name;
    deliveriesNext = null;
    loadDeliveries(false);
  }
  $('out-filter').addEventListener('submit', (ev) => { ev.preventDefault(); deliveriesNext = null; loadDeliveries(false); });
  $('deliveries-next').addEventListener('click', () => loadDeliveries(true));
  $('recover').addEventListener('click', async () => {
    if (!endpoint) return;
    const since = toIso($('recover-since').value);
    if (!since) { say('Say since when: the time the failures began.'); return; }
    $('recover').disabled = true;
    const res = await call('POST', '/api/console/endpoints/' + encodeURIComponent(endpoint) + '/recover', { since });
    $('recover').disabled = false;
    if (!res.ok) { failed('The recovery', res); return; }
    say(res.data.recovered + ' given-up deliveries to ' + endpoint + ' will be sent again.');
    await loadEndpoints();
    loadDeliveries(false);
  });

  // The search in the address, if any, is shown first.
  const start = new URLSearchParams(window.location.search);
  for (const f of FIELDS) {
    const v = start.get(f);
    if (!v) continue;
    if (f === 'since' || f === 'until') {
      const t = new Date(v);
      if (!Number.isNaN(t.getTime())) {
        const p = (n) => String(n).padStart(2, '0');
        form.elements[f].value = t.getFullYear() + '-' + p(t.getMonth() + 1) + '-' + p(t.getDate()) + 'T' + p(t.getHours()) + ':' + p(t.getMinutes());
      }
    } else {
      form.elements[f].value = v;
    }
  }
  show();
  search();
})();
