// Over 300 lines: the whole reviewer console page, hand-written and served as is (no bundler, so no modules to split it into).
/* global document, window, fetch, WebSocket, location, history, URLSearchParams, sessionStorage */
// mcp-warden reviewer console. Hand-written, no framework, no third-party code. Everything shown came from
// agents and downstream servers, so text is only ever inserted with textContent, never parsed as HTML.
'use strict';

(() => {
  const state = { session: null, csrf: null, ws: null, live: false, route: '', feed: null, events: null, routeSeq: 0 };
  // The CSRF token is handed out once, in the login response, and kept in this tab only (sessionStorage:
  // it survives a reload, not a new tab, and no other port of this host can read it).
  const CSRF_KEY = 'warden-console-csrf';
  const loadCsrf = () => {
    try {
      return sessionStorage.getItem(CSRF_KEY);
    } catch {
      return null;
    }
  };
  const saveCsrf = (value) => {
    try {
      if (value) sessionStorage.setItem(CSRF_KEY, value);
      else sessionStorage.removeItem(CSRF_KEY);
    } catch {
      // storage disabled: the token lives in memory until the tab is reloaded
    }
    state.csrf = value || null;
  };
  const main = () => document.getElementById('main');

  // ---------- DOM helpers ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(
        typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child,
      );
    }
    return node;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) if (child) node.appendChild(child);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function show(...children) {
    append(clear(main()), children);
  }

  const badge = (value, extra) =>
    el('span', { class: `badge ${extra || value || ''}`, text: value === null || value === undefined ? '—' : value });
  // A call held for a person's approval is not an ordinary allow-then-reject: it reads as the approval's state.
  const APPROVAL_STATES = { pending: 'waiting for approval', denied: 'approval denied', expired: 'approval expired' };
  const APPROVAL_BADGES = { pending: 'pending', denied: 'denied', expired: 'expired' };
  const approvalBadge = (status) =>
    el('span', {
      class: `badge ${APPROVAL_BADGES[status] || ''}`,
      'data-approval': status,
      text: APPROVAL_STATES[status] || status,
    });
  const decisionBadge = (decision, approval) => (approval ? badge('needs approval', 'pending') : badge(decision));
  const outcomeBadge = (outcome, approval) => (approval ? approvalBadge(approval) : badge(outcome));
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString(undefined, { hour12: false }) : '—');
  const fmtClock = (ms) => (ms ? new Date(ms).toLocaleTimeString(undefined, { hour12: false }) : '—');
  const fmtMs = (ms) =>
    ms === null || ms === undefined ? '—' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
  const json = (value) =>
    el('pre', { class: 'json', text: value === undefined ? '—' : JSON.stringify(value, null, 2) });
  // Characters that change how text reads without being seen (bidi overrides, zero-width, controls):
  // shown to a reviewer as ⟨U+202E⟩ markers, so what is approved is what is read.
  const HIDDEN_RANGES = [
    [0x00, 0x08],
    [0x0b, 0x0c],
    [0x0e, 0x1f],
    [0x7f, 0x9f],
    [0xad, 0xad],
    [0x61c, 0x61c],
    [0x115f, 0x1160],
    [0x17b4, 0x17b5],
    [0x180e, 0x180e],
    [0x200b, 0x200f],
    [0x202a, 0x202e],
    [0x2060, 0x206f],
    [0x3164, 0x3164],
    [0xfe00, 0xfe0f],
    [0xfeff, 0xfeff],
    [0xffa0, 0xffa0],
    [0xfff9, 0xfffb],
    [0xe0000, 0xe007f],
  ];
  const isHidden = (code) => HIDDEN_RANGES.some(([lo, hi]) => code >= lo && code <= hi);
  const visible = (text) => {
    if (typeof text !== 'string') return text;
    let out = '';
    for (const ch of text) {
      const code = ch.codePointAt(0);
      out += isHidden(code) ? `⟨U+${code.toString(16).toUpperCase().padStart(4, '0')}⟩` : ch;
    }
    return out;
  };
  const jsonVisible = (value) =>
    el('pre', {
      class: 'json',
      'data-testid': 'arguments',
      text: value === undefined ? '—' : visible(JSON.stringify(value, null, 2)),
    });
  const dash = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));

  function kv(pairs) {
    const dl = el('dl', { class: 'kv' });
    for (const [key, value] of pairs) {
      if (value === undefined) continue;
      dl.appendChild(el('dt', { text: key }));
      dl.appendChild(el('dd', {}, value instanceof window.Node ? value : dash(value)));
    }
    return dl;
  }

  // A page's data that arrives after the reviewer has moved on to another page: dropped, never drawn over it.
  class StaleView extends Error {}
  const ignoreStale = (draw) => (error) => {
    if (!(error instanceof StaleView)) draw(error);
  };

  function errorBox(error) {
    return el('div', {
      class: 'error-box',
      role: 'alert',
      'data-testid': 'error',
      text: error && error.message ? error.message : String(error),
    });
  }

  // ---------- API ----------

  async function api(path, options) {
    const seq = state.routeSeq;
    const init = { credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (options && options.method === 'POST') {
      init.method = 'POST';
      init.headers['content-type'] = 'application/json';
      if (state.csrf) init.headers['x-csrf-token'] = state.csrf;
      init.body = JSON.stringify(options.body || {});
    }
    const response = await fetch(path, init);
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    // A read started for a page that is no longer shown (a slow feed after a click on Charts) draws nothing.
    if (!(options && options.method) && seq !== state.routeSeq) throw new StaleView('the page changed');
    return body;
  }

  const post = (path, body) => api(path, { method: 'POST', body });

  // ---------- sign-in ----------

  async function boot() {
    const match = /^#login=([A-Za-z0-9_-]{1,100})$/.exec(location.hash);
    state.csrf = loadCsrf();
    if (match) {
      // The code leaves the address bar (and history) before anything else happens.
      history.replaceState(null, '', `${location.pathname}#/feed`);
      // Someone else's link must not silently replace this tab's reviewer.
      const status = await api('/api/status').catch(() => null);
      const current = status && status.signedIn ? status : null;
      if (
        current &&
        !window.confirm(`You are signed in as ${current.subject}. Sign out and sign in with this link instead?`)
      ) {
        location.reload();
        return;
      }
      try {
        const signed = await post('/api/login', { code: match[1] });
        saveCsrf(signed.csrf);
      } catch (error) {
        saveCsrf(null);
        signInPage(`Sign-in refused: ${error.message}`);
        return;
      }
    }
    if (!state.csrf) {
      // A first visit, or a tab without the token (a new tab): nothing is wrong, it just needs a link.
      signInPage(null, 'This tab is not signed in yet: each tab keeps its own sign-in.');
      return;
    }
    try {
      state.session = await api('/api/session');
    } catch (error) {
      if (error.status === 401) saveCsrf(null);
      signInPage(error.status === 401 ? null : error.message);
      return;
    }
    renderWho();
    if (state.session.readOnly) {
      const banner = document.getElementById('banner');
      banner.hidden = false;
      banner.textContent =
        'Read-only console (mcp-warden console): you can look at everything; decisions are made in the console of a running gateway.';
    }
    window.addEventListener('hashchange', route);
    connectLive();
    route();
  }

  function signInPage(message, note) {
    document.getElementById('nav').hidden = true;
    clear(document.getElementById('who'));
    show(
      el(
        'div',
        { class: 'panel signin', 'data-testid': 'signin' },
        el('h1', { text: 'Reviewer console' }),
        message ? errorBox(message) : null,
        note ? el('p', { 'data-testid': 'signin-note', text: note }) : null,
        el('p', {}, 'Sign in with a one-time link. On the gateway host, run'),
        el('pre', {
          class: 'command',
          'data-testid': 'login-command',
          text: 'mcp-warden console login --sub YOUR_SUBJECT',
        }),
        el('p', {}, 'and open the link it prints in this tab.'),
        el('p', {
          class: 'muted',
          text: 'Only reviewers named in the policy can sign in. Links work once and expire after two minutes; each tab keeps its own sign-in.',
        }),
      ),
    );
  }

  function renderWho() {
    const who = clear(document.getElementById('who'));
    append(who, [
      el('span', { 'data-testid': 'reviewer', text: state.session.subject }),
      state.session.readOnly ? badge('read-only', 'pending') : null,
      el('button', {
        type: 'button',
        text: 'Sign out',
        onclick: async () => {
          await post('/api/logout').catch(() => undefined);
          state.session = null;
          saveCsrf(null);
          if (state.ws) state.ws.close();
          signInPage('Signed out.');
        },
      }),
    ]);
  }

  // ---------- live feed ----------

  function connectLive() {
    // The cookie alone opens nothing: the token goes along as a subprotocol.
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`, [
      'warden-console',
      `csrf.${state.csrf}`,
    ]);
    state.ws = ws;
    ws.addEventListener('open', () => setLive(true));
    ws.addEventListener('close', () => {
      setLive(false);
      if (state.session && state.ws === ws) setTimeout(connectLive, 2000);
    });
    ws.addEventListener('message', (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === 'entries') for (const head of data.entries) onEntry(head);
    });
  }

  function setLive(on) {
    state.live = on;
    for (const node of document.querySelectorAll('[data-live]')) {
      node.className = on ? 'live on' : 'live';
      node.textContent = on ? 'live' : 'reconnecting…';
    }
  }

  function onEntry(head) {
    if (head.kind === 'event') {
      // What each list showed is for replay and the call pages, not the feed's events panel.
      if (state.events && !LIST_RECORDS.has(head.type)) state.events.add(head, true);
      return;
    }
    if (state.feed) state.feed.apply(head);
  }

  const LIST_RECORDS = new Set(['list.shown', 'list.catalog']);

  // ---------- router ----------

  const ROUTES = {
    feed: feedPage,
    call: callPage,
    tasks: tasksPage,
    tools: toolsPage,
    approvals: approvalsPage,
    agents: agentsPage,
    charts: chartsPage,
    integrity: integrityPage,
    impact: impactPage,
    servers: serversPage,
  };

  function route() {
    // A sign-in link opened in a tab that already shows the console: start over, so it is handled (and asked about).
    if (/^#login=/.test(location.hash)) {
      location.reload();
      return;
    }
    const hash = location.hash.replace(/^#\/?/, '') || 'feed';
    const [pathPart, queryPart] = hash.split('?');
    const [name, ...rest] = pathPart.split('/');
    const page = ROUTES[name] || feedPage;
    state.routeSeq += 1;
    state.feed = null;
    state.events = null;
    for (const link of document.querySelectorAll('#nav a'))
      link.classList.toggle('active', link.dataset.route === (name === 'call' ? 'feed' : name));
    const params = new URLSearchParams(queryPart || '');
    let args;
    try {
      args = rest.map(decodeURIComponent);
    } catch {
      show(errorBox(new Error('malformed address (bad %-escape)')));
      return;
    }
    Promise.resolve(page(args, params)).catch(ignoreStale((error) => show(errorBox(error))));
  }

  // ---------- feed ----------

  const FILTERS = [
    ['agent', 'Agent'],
    ['task', 'Task'],
    ['server', 'Server'],
    ['tool', 'Tool'],
  ];
  const DECISIONS = ['', 'allow', 'deny'];
  const OUTCOMES = [
    '',
    'ok',
    'denied',
    'tool_error',
    'rejected',
    'timeout',
    'cancelled',
    'downstream_failed',
    'unknown_outcome',
    'pending',
  ];

  function globTest(pattern, value) {
    if (!pattern) return true;
    if (value === null || value === undefined) return false;
    if (!/[*?]/.test(pattern)) return pattern === value;
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${source}$`).test(value);
  }

  function toLocalInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
    return d.toISOString().slice(0, 16);
  }

  async function feedPage(_args, params) {
    const filters = {};
    for (const [name] of FILTERS) if (params.get(name)) filters[name] = params.get(name);
    for (const name of ['decision', 'outcome', 'since', 'until'])
      if (params.get(name)) filters[name] = params.get(name);

    const form = el('form', { class: 'filters', 'data-testid': 'filters' });
    for (const [name, label] of FILTERS)
      form.appendChild(
        el(
          'label',
          {},
          label,
          el('input', { type: 'text', name, value: filters[name] || '', placeholder: 'any (globs: *)' }),
        ),
      );
    const select = (name, label, options) =>
      el(
        'label',
        {},
        label,
        el(
          'select',
          { name },
          options.map((o) => el('option', { value: o, selected: (filters[name] || '') === o, text: o || 'any' })),
        ),
      );
    form.appendChild(select('decision', 'Decision', DECISIONS));
    form.appendChild(select('outcome', 'Outcome', OUTCOMES));
    form.appendChild(
      el(
        'label',
        {},
        'From',
        el('input', {
          type: 'datetime-local',
          name: 'since',
          value: filters.since ? toLocalInput(Number(filters.since)) : '',
        }),
      ),
    );
    form.appendChild(
      el(
        'label',
        {},
        'To',
        el('input', {
          type: 'datetime-local',
          name: 'until',
          value: filters.until ? toLocalInput(Number(filters.until)) : '',
        }),
      ),
    );
    form.appendChild(el('button', { type: 'submit', class: 'primary', text: 'Apply' }));
    form.appendChild(el('button', { type: 'button', text: 'Clear', onclick: () => (location.hash = '#/feed') }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [key, value] of new window.FormData(form).entries()) {
        if (!value) continue;
        next.set(key, key === 'since' || key === 'until' ? String(new Date(value).getTime()) : value);
      }
      location.hash = `#/feed${next.toString() ? `?${next}` : ''}`;
    });

    const search = el('form', { class: 'filters', 'data-testid': 'search' });
    const searchInput = el('input', {
      type: 'search',
      class: 'search',
      name: 'q',
      placeholder: 'Record id or trace id',
      'aria-label': 'Search by record id or trace id',
    });
    const searchResult = el('span', { class: 'muted' });
    append(search, [searchInput, el('button', { type: 'submit', text: 'Find' }), searchResult]);
    search.addEventListener('submit', async (event) => {
      event.preventDefault();
      const q = searchInput.value.trim();
      if (!q) return;
      try {
        const found = await api(`/api/search?q=${encodeURIComponent(q)}`);
        if (found.ids.length === 1) location.hash = `#/call/${found.ids[0]}`;
        else if (found.ids.length === 0) searchResult.textContent = 'nothing found';
        else {
          clear(searchResult);
          append(searchResult, [
            `${found.ids.length} records with this trace: `,
            ...found.ids.map((id) => el('a', { href: `#/call/${id}`, class: 'mono', text: `${id} ` })),
          ]);
        }
      } catch (error) {
        searchResult.textContent = error.message;
      }
    });

    const tbody = el('tbody', { 'data-testid': 'feed-rows' });
    const table = el(
      'table',
      { 'data-testid': 'feed' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Started', 'Agent', 'Method', 'Tool / target', 'Decision', 'Rule', 'Outcome', 'Duration', 'Task'].map((h) =>
            el('th', { text: h, class: h === 'Duration' ? 'num' : undefined }),
          ),
        ),
      ),
      tbody,
    );
    const more = el('button', { type: 'button', text: 'Load older', hidden: true });
    const liveTag = el('span', {
      class: state.live ? 'live on' : 'live',
      'data-live': '',
      text: state.live ? 'live' : 'connecting…',
    });
    const eventsBody = el('tbody', { 'data-testid': 'event-rows' });

    show(
      el('div', { class: 'toolbar' }, el('h1', { text: 'Calls' }), liveTag),
      el('div', { class: 'panel' }, form, search),
      el('div', { class: 'panel' }, table, el('div', { class: 'toolbar' }, el('span'), more)),
      el(
        'div',
        { class: 'panel' },
        el('h2', { text: 'Events' }),
        el(
          'table',
          {},
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ['Time', 'Type', 'Subject', 'Target', 'Details'].map((h) => el('th', { text: h })),
            ),
          ),
          eventsBody,
        ),
      ),
    );

    const rows = new Map();
    const rowFor = (r) => {
      const tr = el('tr', {
        class: 'clickable',
        'data-id': r.id,
        'data-testid': 'feed-row',
        onclick: () => (location.hash = `#/call/${r.id}`),
      });
      fillRow(tr, r);
      return tr;
    };
    const fillRow = (tr, r) => {
      append(clear(tr), [
        el('td', { class: 'mono', title: fmtTime(r.startedAt), text: fmtClock(r.startedAt) }),
        el('td', { text: dash(r.subject) }),
        el('td', { class: 'mono', text: dash(r.method) }),
        el('td', {}, el('a', { href: `#/call/${r.id}`, class: 'mono', text: dash(r.target) })),
        el('td', { 'data-testid': 'decision' }, decisionBadge(r.decision, r.approval)),
        el('td', { class: 'mono', text: dash(r.rule) }),
        el('td', { 'data-testid': 'outcome' }, outcomeBadge(r.outcome, r.approval)),
        el('td', { class: 'num', text: fmtMs(r.durationMs) }),
        el('td', { class: 'mono', text: dash(r.taskId) }),
      ]);
    };
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) query.set(key, value);

    const loadPage = async (before) => {
      const q = new URLSearchParams(query);
      if (before) q.set('before', before);
      q.set('limit', '50');
      const page = await api(`/api/calls?${q}`);
      for (const r of page.rows) {
        if (rows.has(r.id)) continue;
        const tr = rowFor(r);
        rows.set(r.id, { data: r, tr });
        tbody.appendChild(tr);
      }
      more.hidden = !page.next;
      more.onclick = () => loadPage(page.next).catch(ignoreStale((error) => show(errorBox(error))));
      if (rows.size === 0 && !tbody.querySelector('.empty'))
        tbody.appendChild(el('tr', { class: 'empty' }, el('td', { colspan: 9, text: 'No calls match.' })));
    };

    const matches = (r) => {
      for (const [name, column] of [
        ['agent', 'subject'],
        ['task', 'taskId'],
        ['server', 'server'],
        ['tool', 'target'],
        ['decision', 'decision'],
      ]) {
        if (filters[name] && !globTest(filters[name], r[column])) return false;
      }
      if (filters.outcome && filters.outcome !== r.outcome) return false;
      if (filters.since && r.startedAt < Number(filters.since)) return false;
      if (filters.until && r.startedAt >= Number(filters.until)) return false;
      return true;
    };

    state.feed = {
      apply(head) {
        const existing = rows.get(head.id);
        if (head.kind === 'outcome' && existing) {
          existing.data = {
            ...existing.data,
            outcome: head.outcome,
            durationMs: head.durationMs,
            approval: head.approval,
          };
          if (!matches(existing.data)) {
            existing.tr.remove();
            rows.delete(head.id);
            return;
          }
          fillRow(existing.tr, existing.data);
          return;
        }
        if (existing) return;
        const r = {
          id: head.id,
          startedAt: head.startedAt,
          subject: head.subject,
          method: head.type,
          target: head.target,
          server: head.server,
          decision: head.decision,
          rule: head.rule,
          outcome: head.kind === 'outcome' ? head.outcome : 'pending',
          approval: head.kind === 'outcome' ? head.approval : null,
          durationMs: head.durationMs,
          taskId: head.taskId,
        };
        if (!matches(r)) return;
        const empty = tbody.querySelector('.empty');
        if (empty) empty.remove();
        const tr = rowFor(r);
        tr.classList.add('fresh');
        rows.set(r.id, { data: r, tr });
        tbody.insertBefore(tr, tbody.firstChild);
      },
    };

    const eventRow = (e) =>
      el(
        'tr',
        { 'data-testid': 'event-row' },
        el('td', { class: 'mono', text: fmtClock(e.ts) }),
        el('td', {}, badge(e.type, 'event')),
        el('td', { text: dash(e.subject) }),
        el('td', { class: 'mono', text: dash(e.target || e.taskId) }),
        el('td', { class: 'event-data' }, e.data ? eventDetails(e.data) : null),
      );
    // The whole event, formatted: a one-line summary that opens into the full JSON (nothing cut off).
    function eventDetails(data) {
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        pretty = text;
      }
      return el(
        'details',
        { 'data-testid': 'event-data' },
        el('summary', { class: 'mono clip', text }),
        el('pre', { class: 'json', 'data-testid': 'event-json', text: pretty }),
      );
    }
    // Kept in a local too: the late part of this page must never reach for another page's state.
    const eventList = {
      add(e, fresh) {
        const tr = eventRow(e);
        if (fresh) {
          tr.classList.add('fresh');
          eventsBody.insertBefore(tr, eventsBody.firstChild);
          while (eventsBody.childNodes.length > 15) eventsBody.removeChild(eventsBody.lastChild);
        } else eventsBody.appendChild(tr);
      },
    };
    state.events = eventList;

    await loadPage();
    const events = await api('/api/events?limit=15&lists=0');
    for (const e of events.rows) eventList.add(e, false);
  }

  // ---------- a call ----------

  async function callPage([id]) {
    const detail = await api(`/api/calls/${encodeURIComponent(id)}`);
    if (detail.event) {
      const e = detail.event;
      show(
        el('h1', {}, 'Event ', el('span', { class: 'mono', text: e.id })),
        el(
          'div',
          { class: 'panel' },
          kv([
            ['Type', badge(e.type, 'event')],
            ['Time', fmtTime(e.ts)],
            ['Subject', e.subject],
            ['Task', e.taskId],
            ['Server', e.server],
            ['Target', e.target],
            ['Entry', `#${e.seq}`],
            ['Hash', e.hash],
          ]),
        ),
        el(
          'div',
          { class: 'panel' },
          el('h2', { text: 'Details' }),
          json(e.body && e.body.data !== undefined ? e.body.data : e.body),
        ),
      );
      return;
    }
    const intent = detail.intent ? detail.intent.body || {} : {};
    const outcome = detail.outcome ? detail.outcome.body || {} : {};
    const base = detail.intent || detail.outcome;
    const decision = intent.decision || {};
    const principal = intent.principal || {};
    const status = detail.outcome ? detail.outcome.outcome : 'pending';

    const taskPanel = el('div', { class: 'panel' }, el('h2', { text: 'Task and grants' }));
    if (intent.task || detail.tasks.length) {
      append(taskPanel, [
        kv([
          ['Task', intent.task ? intent.task.id : base.taskId],
          ['Purpose', intent.task && intent.task.purpose],
        ]),
      ]);
      for (const t of detail.tasks) {
        append(taskPanel, [
          el(
            'div',
            { style: undefined },
            kv([
              ['Status', badge(t.status)],
              ['Subject', t.subject],
              ['Source', t.source],
              ['Grants', t.grants ? t.grants.join(', ') : '(not narrowed)'],
              ['Expires', fmtTime(t.expiresAt)],
              ['Ended', t.endedAt ? `${fmtTime(t.endedAt)} (${t.endReason})` : undefined],
            ]),
          ),
          el('p', {}, el('a', { href: `#/tasks?focus=${encodeURIComponent(t.id)}`, text: 'Open in Tasks →' })),
        ]);
      }
    } else taskPanel.appendChild(el('p', { class: 'muted', text: 'Not made inside a task.' }));

    const secrets = outcome.secrets || [];
    const approvals = detail.approvals || [];
    show(
      el(
        'div',
        { class: 'toolbar' },
        el('h1', {}, `${dash(base.type)} `, el('span', { class: 'mono', text: dash(base.target) })),
        el('a', { href: '#/feed', text: '← Feed' }),
      ),
      el(
        'div',
        { class: 'grid2' },
        el(
          'div',
          { class: 'panel', 'data-testid': 'call-summary' },
          el('h2', { text: 'Record' }),
          kv([
            ['Record id', el('span', { class: 'mono', text: id })],
            [
              'Trace id',
              detail.traceUrl
                ? el('a', {
                    class: 'mono',
                    href: detail.traceUrl,
                    target: '_blank',
                    rel: 'noopener noreferrer',
                    'data-testid': 'trace-link',
                    text: intent.traceId,
                  })
                : el('span', { class: 'mono', text: dash(intent.traceId) }),
            ],
            [
              'Outcome',
              el(
                'span',
                { 'data-testid': 'call-outcome' },
                outcomeBadge(status, outcome.approval && outcome.approval.status),
              ),
            ],
            ['Agent', principal.subject || base.subject],
            ['Issuer', principal.issuer],
            ['Client', principal.clientId || (intent.client && intent.client.name)],
            ['Auth', principal.authMethod],
            ['Ingress', intent.ingress],
            ['Session', intent.session],
            ['Server', base.server],
            ['Downstream name', intent.downstreamTarget],
            ['Tool definition', intent.toolHash],
            ['Started', fmtTime(base.startedAt)],
            ['Ended', detail.outcome ? fmtTime(detail.outcome.ts) : 'still running'],
            ['Duration', fmtMs(outcome.durationMs)],
          ]),
        ),
        el(
          'div',
          { class: 'panel', 'data-testid': 'decision' },
          el('h2', { text: 'Decision' }),
          kv([
            [
              'Effect',
              el(
                'span',
                { 'data-testid': 'call-effect' },
                decisionBadge(decision.effect || base.decision, outcome.approval && outcome.approval.status),
              ),
            ],
            ['Rule', el('span', { class: 'mono', 'data-testid': 'decision-rule', text: dash(decision.rule) })],
            ['Reason', el('span', { 'data-testid': 'decision-reason', text: dash(decision.reason) })],
            ['Policy version', decision.policyVersion],
            ['Approval', decision.approval === undefined ? undefined : JSON.stringify(decision.approval)],
            ['Refusal seen by agent', outcome.error ? `${outcome.error.code}: ${outcome.error.message}` : undefined],
            ['Real reason', outcome.reason],
          ]),
        ),
      ),
      el(
        'div',
        { class: 'grid2', style: undefined },
        taskPanel,
        el(
          'div',
          { class: 'panel' },
          el('h2', { text: 'Delegation chain' }),
          intent.delegation ? json(intent.delegation) : el('p', { class: 'muted', text: 'Direct: no delegation.' }),
        ),
      ),
      el(
        'div',
        { class: 'grid2' },
        el(
          'div',
          { class: 'panel' },
          el('h2', { text: 'Secrets used' }),
          secrets.length
            ? el(
                'table',
                {},
                el(
                  'thead',
                  {},
                  el(
                    'tr',
                    {},
                    ['Name', 'Source', 'Fingerprint'].map((h) => el('th', { text: h })),
                  ),
                ),
                el(
                  'tbody',
                  {},
                  secrets.map((s) =>
                    el(
                      'tr',
                      {},
                      el('td', { text: s.name }),
                      el('td', { text: s.source }),
                      el('td', { class: 'mono wrap', text: s.fingerprint || s.hmac || '' }),
                    ),
                  ),
                ),
              )
            : el('p', { class: 'muted', text: 'None.' }),
        ),
        el(
          'div',
          { class: 'panel', 'data-testid': 'call-approvals' },
          el('h2', { text: 'Approval' }),
          approvals.length
            ? el(
                'table',
                {},
                el(
                  'tbody',
                  {},
                  approvals.map((a) =>
                    el(
                      'tr',
                      {},
                      el('td', { class: 'mono', text: a.id }),
                      el('td', {}, badge(a.status)),
                      el('td', { text: dash(a.decidedBy) }),
                      el('td', { text: fmtTime(a.decidedAt) }),
                    ),
                  ),
                ),
              )
            : el('p', {
                class: 'muted',
                text: decision.approval ? JSON.stringify(decision.approval) : 'No approval involved.',
              }),
        ),
      ),
      el(
        'div',
        { class: 'grid2' },
        el(
          'div',
          { class: 'panel' },
          el('h2', { text: `Arguments ${intent.argumentsDigest ? `(${intent.argumentsDigest.slice(0, 19)}…)` : ''}` }),
          json(intent.arguments),
        ),
        el(
          'div',
          { class: 'panel' },
          el('h2', { text: 'Result' }),
          outcome.result
            ? json(outcome.result)
            : el('p', { class: 'muted', text: detail.outcome ? 'Not captured.' : 'No result yet.' }),
        ),
      ),
      detail.relays.length
        ? el(
            'div',
            { class: 'panel' },
            el('h2', { text: 'Requests the server made during the call' }),
            el(
              'ul',
              {},
              detail.relays.map((r) =>
                el('li', {}, el('a', { href: `#/call/${r.id}`, text: `${r.method} · ${r.outcome}` })),
              ),
            ),
          )
        : null,
      el(
        'div',
        { class: 'panel' },
        el('h2', { text: 'Related events (same task)' }),
        detail.related.length
          ? el(
              'table',
              {},
              el(
                'tbody',
                {},
                detail.related.map((e) =>
                  el(
                    'tr',
                    {},
                    el('td', { class: 'mono', text: fmtTime(e.ts) }),
                    el('td', {}, badge(e.type, 'event')),
                    el('td', { text: dash(e.subject) }),
                    el('td', {}, el('a', { href: `#/call/${e.id}`, class: 'mono', text: e.id })),
                  ),
                ),
              ),
            )
          : el('p', { class: 'muted', text: 'None.' }),
      ),
      el(
        'div',
        { class: 'panel' },
        el('h2', { text: 'Audit entries' }),
        kv([
          ['Intent', detail.intent ? `#${detail.intent.seq} ${detail.intent.hash}` : '—'],
          ['Outcome', detail.outcome ? `#${detail.outcome.seq} ${detail.outcome.hash}` : '—'],
        ]),
      ),
    );
  }

  // ---------- tasks ----------

  function actionButton(label, klass, run, testid) {
    const button = el('button', {
      type: 'button',
      class: klass,
      text: label,
      'data-testid': testid,
      disabled: state.session.readOnly,
      title: state.session.readOnly ? 'read-only console' : undefined,
    });
    button.addEventListener('click', async (event) => {
      event.stopPropagation();
      button.disabled = true;
      try {
        await run();
        route();
      } catch (error) {
        button.disabled = false;
        if (!(error instanceof StaleView)) main().insertBefore(errorBox(error), main().firstChild);
      }
    });
    return button;
  }

  function tabs(base, current, names) {
    return el(
      'div',
      { class: 'tabs' },
      names.map((name) =>
        el('a', { href: `${base}?status=${name}`, class: name === current ? 'active' : undefined, text: name }),
      ),
    );
  }

  async function tasksPage(_args, params) {
    const status = params.get('status') || 'active';
    const data = await api(`/api/tasks?status=${encodeURIComponent(status)}`);
    const focus = params.get('focus');
    show(
      el('h1', { text: 'Tasks' }),
      tabs('#/tasks', status, ['active', 'expired', 'revoked', 'ended', 'all']),
      el(
        'div',
        { class: 'panel' },
        data.rows.length === 0
          ? el('div', { class: 'empty', text: `No ${status} tasks.` })
          : el(
              'table',
              { 'data-testid': 'tasks' },
              el(
                'thead',
                {},
                el(
                  'tr',
                  {},
                  ['Task', 'Agent', 'Source', 'Status', 'Purpose', 'Grants', 'Created', 'Expires', ''].map((h) =>
                    el('th', { text: h }),
                  ),
                ),
              ),
              el(
                'tbody',
                {},
                data.rows.map((t) =>
                  el(
                    'tr',
                    { class: focus === t.id ? 'fresh' : undefined, 'data-task': t.id },
                    el(
                      'td',
                      {},
                      el('a', { href: `#/feed?task=${encodeURIComponent(t.id)}`, class: 'mono', text: t.id }),
                    ),
                    el('td', { text: t.subject }),
                    el('td', { text: t.source }),
                    el('td', {}, badge(t.status)),
                    el('td', { text: dash(t.purpose) }),
                    el('td', { class: 'mono', text: t.grants ? t.grants.join(', ') : '(not narrowed)' }),
                    el('td', { text: fmtTime(t.createdAt) }),
                    el('td', { text: fmtTime(t.expiresAt) }),
                    el(
                      'td',
                      {},
                      t.status === 'active'
                        ? actionButton(
                            'Revoke',
                            'danger',
                            () => post(`/api/tasks/${encodeURIComponent(t.id)}/revoke`),
                            'revoke-task',
                          )
                        : null,
                    ),
                  ),
                ),
              ),
            ),
      ),
    );
  }

  // ---------- servers ----------

  // The breaker's states read as what they mean for calls; the badge class gives the colour.
  const BREAKER_TEXT = {
    closed: 'closed (calls go through)',
    open: 'open (calls fail at once)',
    'half-open': 'half-open (probing)',
  };
  const BREAKER_CLASS = { closed: 'ok', open: 'error', 'half-open': 'pending' };
  const STATUS_CLASS = { up: 'ok', degraded: 'pending', down: 'error' };

  async function serversPage() {
    const data = await api('/api/servers');
    if (!data.servers) {
      show(el('h1', { text: 'Servers' }), el('div', { class: 'panel empty', text: data.reason }));
      return;
    }
    const connections = (counts) =>
      Object.entries(counts || {})
        .map(([k, n]) => `${n} ${k}`)
        .join(', ') || 'none';
    show(
      el('h1', { text: 'Servers' }),
      el(
        'div',
        { class: 'panel' },
        data.servers.length === 0
          ? el('div', { class: 'empty', text: 'No servers are enabled.' })
          : el(
              'table',
              { 'data-testid': 'servers' },
              el(
                'thead',
                {},
                el(
                  'tr',
                  {},
                  [
                    'Server',
                    'Transport',
                    'Status',
                    'Circuit breaker',
                    'Failures',
                    'Since',
                    'Next probe',
                    'Last error',
                    'Connections',
                  ].map((h) => el('th', { text: h })),
                ),
              ),
              el(
                'tbody',
                {},
                data.servers.map((s) =>
                  el(
                    'tr',
                    { 'data-server': s.id },
                    el('td', { class: 'mono', text: s.id }),
                    el('td', { text: s.transport }),
                    el('td', {}, badge(s.status, STATUS_CLASS[s.status])),
                    el(
                      'td',
                      { 'data-breaker': s.breaker.state },
                      el('span', {
                        class: `badge ${BREAKER_CLASS[s.breaker.state] || ''}`,
                        text: BREAKER_TEXT[s.breaker.state] || s.breaker.state,
                      }),
                    ),
                    el('td', { text: String(s.breaker.failures) }),
                    el('td', { text: fmtTime(s.breaker.since) }),
                    el('td', { text: fmtTime(s.breaker.retryAt) }),
                    el('td', { class: 'mono', text: dash(s.breaker.lastError) }),
                    el('td', { text: connections(s.connections) }),
                  ),
                ),
              ),
            ),
      ),
    );
  }

  // ---------- tools ----------

  function diffRows(before, after) {
    // A readable field-level diff of two definitions (the server computes the authoritative one when present).
    const flat = (value, prefix, out) => {
      if (value !== null && typeof value === 'object') {
        const keys = Object.keys(value);
        if (keys.length === 0) out.set(prefix || '(root)', Array.isArray(value) ? '[]' : '{}');
        for (const key of keys) flat(value[key], prefix ? `${prefix}.${key}` : key, out);
      } else out.set(prefix || '(root)', JSON.stringify(value));
      return out;
    };
    const a = flat(before, '', new Map());
    const b = flat(after, '', new Map());
    const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
    return paths
      .filter((p) => a.get(p) !== b.get(p))
      .map((path) => ({ path, before: a.get(path), after: b.get(path) }));
  }

  function diffTable(changes) {
    if (!changes.length)
      return el('p', { class: 'muted', text: 'No earlier approved definition: this is the first one seen.' });
    return el(
      'table',
      { class: 'diff', 'data-testid': 'diff' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Field', 'Approved', 'Now'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        changes.map((c) =>
          el(
            'tr',
            {},
            el('td', { class: 'mono', text: c.path }),
            el('td', { class: 'before', text: c.before === undefined ? '—' : c.before }),
            el('td', { class: 'after', text: c.after === undefined ? '—' : c.after }),
          ),
        ),
      ),
    );
  }

  async function toolsPage(_args, params) {
    const status = params.get('status') || 'quarantined';
    const data = await api(`/api/tools${status === 'all' ? '' : `?status=${encodeURIComponent(status)}`}`);
    if (!data.available) {
      show(
        el('h1', { text: 'Tools' }),
        el('div', { class: 'panel empty', text: 'Tool pinning is not available in this build.' }),
      );
      return;
    }
    const cards = data.rows.map((p) => {
      const changes =
        p.diff || (p.pinnedDefinition === undefined ? [] : diffRows(p.pinnedDefinition, p.currentDefinition));
      const key = { server: p.server, kind: p.kind, name: p.name, expectedHash: p.currentHash };
      const decidable = p.status !== 'pinned';
      return el(
        'div',
        { class: 'panel', 'data-testid': 'tool', 'data-tool': p.exposed },
        el(
          'div',
          { class: 'toolbar' },
          el(
            'h2',
            {},
            el('span', { class: 'mono', text: p.exposed }),
            ' ',
            badge(p.status),
            ' ',
            el('span', { class: 'muted', text: p.kind }),
          ),
          decidable
            ? el(
                'div',
                { class: 'actions' },
                actionButton('Approve', 'primary', () => post('/api/tools/approve', key), 'approve-tool'),
                actionButton('Reject', 'danger', () => post('/api/tools/reject', key), 'reject-tool'),
              )
            : null,
        ),
        p.flags && p.flags.length
          ? el(
              'p',
              {},
              p.flags.map((f) => el('div', { class: 'flag', text: `⚑ ${f}` })),
            )
          : null,
        kv([
          ['Server', p.server],
          ['Current hash', el('span', { class: 'mono', text: p.currentHash })],
          ['Approved hash', el('span', { class: 'mono', text: dash(p.pinnedHash) })],
          ['First seen', fmtTime(p.firstSeenAt)],
          ['Changed', fmtTime(p.updatedAt)],
          ['Decided', p.decidedBy ? `${p.decidedBy}, ${fmtTime(p.decidedAt)}` : undefined],
        ]),
        decidable ? el('div', {}, el('h2', { text: 'What changed' }), diffTable(changes)) : null,
        decidable && !p.pinnedDefinition ? json(p.currentDefinition) : null,
      );
    });
    show(
      el('h1', { text: 'Tools' }),
      tabs('#/tools', status, ['quarantined', 'pending', 'rejected', 'pinned', 'all']),
      cards.length ? cards : el('div', { class: 'panel empty', text: `No ${status} tools.` }),
    );
  }

  // ---------- approvals ----------

  async function approvalsPage(_args, params) {
    const status = params.get('status') || 'pending';
    const data = await api(`/api/approvals${status === 'all' ? '' : `?status=${encodeURIComponent(status)}`}`);
    if (!data.available) {
      show(
        el('h1', { text: 'Approvals' }),
        el('div', { class: 'panel empty', text: 'Approvals are not available in this build.' }),
      );
      return;
    }
    const cards = data.rows.map((a) => {
      const reason = el('input', { type: 'text', placeholder: 'reason (optional)', 'aria-label': 'reason' });
      return el(
        'div',
        { class: 'panel', 'data-testid': 'approval', 'data-approval': a.id },
        el(
          'div',
          { class: 'toolbar' },
          el(
            'h2',
            {},
            el('span', { class: 'mono', text: a.tool }),
            ' ',
            badge(a.status),
            ' ',
            el('span', { class: 'muted', text: `for ${a.subject}` }),
          ),
          a.status === 'pending'
            ? el(
                'div',
                { class: 'actions' },
                reason,
                actionButton(
                  'Approve',
                  'primary',
                  () => post(`/api/approvals/${encodeURIComponent(a.id)}/approve`),
                  'approve-approval',
                ),
                actionButton(
                  'Deny',
                  'danger',
                  () => post(`/api/approvals/${encodeURIComponent(a.id)}/deny`, { reason: reason.value }),
                  'deny-approval',
                ),
              )
            : null,
        ),
        kv([
          ['Approval id', el('span', { class: 'mono', text: a.id })],
          ['Agent', `${a.subject} (${a.issuer})`],
          [
            'Task',
            a.summary && a.summary.task
              ? `${a.summary.task.id}${a.summary.task.purpose ? ` — ${a.summary.task.purpose}` : ''}`
              : a.taskId,
          ],
          ['Channel', a.channel],
          ['Call', a.callId ? el('a', { href: `#/call/${a.callId}`, class: 'mono', text: a.callId }) : undefined],
          ['Tool description', a.summary && visible(a.summary.description)],
          ['Arguments digest', el('span', { class: 'mono', text: a.argumentsDigest })],
          ['Definition', el('span', { class: 'mono', text: a.definitionHash })],
          ['Asked', fmtTime(a.createdAt)],
          ['Expires', fmtTime(a.expiresAt)],
          [
            'Decided',
            a.decidedBy ? `${a.decidedBy}, ${fmtTime(a.decidedAt)}${a.reason ? ` — ${a.reason}` : ''}` : undefined,
          ],
        ]),
        el('h2', { text: 'Arguments' }),
        jsonVisible(a.summary ? a.summary.arguments : undefined),
      );
    });
    show(
      el('h1', { text: 'Approvals' }),
      tabs('#/approvals', status, ['pending', 'approved', 'used', 'denied', 'expired', 'all']),
      cards.length ? cards : el('div', { class: 'panel empty', text: `No ${status} approvals.` }),
    );
  }

  // ---------- agents ----------

  async function agentsPage() {
    const data = await api('/api/agents');
    const revoked = new Map(data.revocations.map((r) => [r.subject, r]));
    show(
      el('h1', { text: 'Agents' }),
      el('p', { class: 'muted', text: `Activity over the last 7 days (since ${fmtTime(data.since)}).` }),
      el(
        'div',
        { class: 'panel' },
        data.rows.length === 0
          ? el('div', { class: 'empty', text: 'No activity.' })
          : el(
              'table',
              { 'data-testid': 'agents' },
              el(
                'thead',
                {},
                el(
                  'tr',
                  {},
                  ['Agent', 'Calls', 'Denied', 'Errors', 'Last call', 'Status', ''].map((h) =>
                    el('th', { text: h, class: ['Calls', 'Denied', 'Errors'].includes(h) ? 'num' : undefined }),
                  ),
                ),
              ),
              el(
                'tbody',
                {},
                data.rows.map((a) => {
                  const r = a.subject ? revoked.get(a.subject) : undefined;
                  return el(
                    'tr',
                    { 'data-agent': a.subject },
                    el(
                      'td',
                      {},
                      el('a', { href: `#/feed?agent=${encodeURIComponent(a.subject || '')}`, text: dash(a.subject) }),
                    ),
                    el('td', { class: 'num', text: a.calls }),
                    el('td', { class: 'num', text: a.denied || 0 }),
                    el('td', { class: 'num', text: a.errors || 0 }),
                    el('td', { text: fmtTime(a.last) }),
                    el('td', {}, r ? badge(`revoked ${fmtTime(r.revokedAt)}`, 'revoked') : badge('active')),
                    el(
                      'td',
                      {},
                      a.subject
                        ? actionButton(
                            'Revoke',
                            'danger',
                            () =>
                              window.confirm(
                                `Revoke ${a.subject} at every issuer? Its tokens issued until now are refused and its open tasks end.`,
                              )
                                ? post('/api/agents/revoke', { subject: a.subject })
                                : null,
                            'revoke-agent',
                          )
                        : null,
                    ),
                  );
                }),
              ),
            ),
      ),
      data.revocations.length
        ? el(
            'div',
            { class: 'panel' },
            el('h2', { text: 'Revocations' }),
            el(
              'table',
              {},
              el(
                'tbody',
                {},
                data.revocations.map((r) =>
                  el(
                    'tr',
                    {},
                    el('td', { text: r.subject }),
                    el('td', { text: r.issuer }),
                    el('td', { text: fmtTime(r.revokedAt) }),
                    el('td', { text: dash(r.reason) }),
                  ),
                ),
              ),
            ),
          )
        : null,
    );
  }

  // ---------- charts ----------

  function bucketsOf(data) {
    const list = [];
    for (let t = data.since; t <= data.until; t += data.bucketMs) list.push(t);
    return list;
  }

  function stackedBars(points, buckets, height) {
    const width = height > 150 ? 1200 : 480;
    const pad = { left: 34, right: 6, top: 8, bottom: 18 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    const max = Math.max(1, ...buckets.map((b) => (points.get(b) || { calls: 0 }).calls));
    const bw = Math.max(1, w / buckets.length - 1);
    const root = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img' });
    root.appendChild(
      svg('line', { x1: pad.left, x2: width - pad.right, y1: pad.top + h, y2: pad.top + h, stroke: '#d0d5dd' }),
    );
    root.appendChild(svg('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', text: String(max) }));
    root.appendChild(svg('text', { x: pad.left - 4, y: pad.top + h, 'text-anchor': 'end', text: '0' }));
    buckets.forEach((b, i) => {
      const p = points.get(b);
      const x = pad.left + (i * w) / buckets.length;
      if (p) {
        const okCalls = Math.max(0, p.calls - p.denied - p.errors);
        let top = pad.top + h;
        for (const [value, color] of [
          [okCalls, '#93b4ee'],
          [p.errors, '#f5a524'],
          [p.denied, '#e5484d'],
        ]) {
          if (!value) continue;
          const hh = (value / max) * h;
          top -= hh;
          const rect = svg('rect', { x, y: top, width: bw, height: Math.max(hh, 0.5), fill: color, rx: 1 });
          rect.appendChild(
            svg('title', {
              text: `${new Date(b).toLocaleString(undefined, { hour12: false })}: ${p.calls} calls, ${p.denied} denied, ${p.errors} errors`,
            }),
          );
          root.appendChild(rect);
        }
      }
      // Dated axis: the day and the time, so a week (or a day across midnight) reads unambiguously.
      const every = Math.ceil(buckets.length / (width > 600 ? 8 : 4));
      if (i % every === 0)
        root.appendChild(svg('text', { x, y: height - 4, 'data-testid': 'axis-label', text: axisLabel(b) }));
    });
    return root;
  }

  function axisLabel(t) {
    return new Date(t).toLocaleString(undefined, {
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    });
  }

  function groupSeries(rows) {
    const byKey = new Map();
    const total = new Map();
    for (const r of rows) {
      // A record without an agent or a tool (a list, a refused request) counts in the totals, not as a series.
      if (r.key === null || r.key === '' || !r.calls) continue;
      const key = r.key;
      if (!byKey.has(key)) byKey.set(key, { calls: 0, points: new Map() });
      const entry = byKey.get(key);
      entry.calls += r.calls;
      entry.points.set(r.bucket, { calls: r.calls, denied: r.denied || 0, errors: r.errors || 0 });
      const t = total.get(r.bucket) || { calls: 0, denied: 0, errors: 0 };
      total.set(r.bucket, {
        calls: t.calls + r.calls,
        denied: t.denied + (r.denied || 0),
        errors: t.errors + (r.errors || 0),
      });
    }
    return { byKey: [...byKey.entries()].sort((a, b) => b[1].calls - a[1].calls), total };
  }

  async function chartsPage(_args, params) {
    // No range asked for: the server picks the shortest one that holds the data.
    const asked = params.get('hours');
    const data = await api(asked ? `/api/charts?hours=${encodeURIComponent(asked)}` : '/api/charts');
    const hours = String(data.hours);
    const buckets = bucketsOf(data);
    const agents = groupSeries(data.byAgent);
    const tools = groupSeries(data.byTool);
    // The totals cover every agent; the series only the busiest ones.
    if (data.total)
      agents.total = new Map(
        data.total.map((p) => [p.bucket, { calls: p.calls, denied: p.denied || 0, errors: p.errors || 0 }]),
      );
    let calls = 0;
    let denied = 0;
    let errors = 0;
    for (const p of agents.total.values()) {
      calls += p.calls;
      denied += p.denied;
      errors += p.errors;
    }
    const legend = el(
      'div',
      { class: 'legend' },
      el('span', {}, el('i', { class: 'sw-calls' }), 'calls'),
      el('span', {}, el('i', { class: 'sw-denied' }), 'denied'),
      el('span', {}, el('i', { class: 'sw-errors' }), 'errors'),
    );
    const multiples = (groups) =>
      el(
        'div',
        { class: 'small-multiples' },
        groups.byKey
          .slice(0, 12)
          .map(([key, entry]) =>
            el('div', {}, el('h3', { text: `${key} · ${entry.calls}` }), stackedBars(entry.points, buckets, 110)),
          ),
      );
    show(
      el(
        'div',
        { class: 'toolbar' },
        el('h1', { text: 'Charts' }),
        el(
          'div',
          { class: 'tabs' },
          ['1', '24', '168'].map((h) =>
            el('a', {
              href: `#/charts?hours=${h}`,
              class: h === hours ? 'active' : undefined,
              text: h === '1' ? 'last hour' : h === '24' ? 'last day' : 'last week',
            }),
          ),
        ),
      ),
      el(
        'div',
        { class: 'panel', 'data-testid': 'chart-total' },
        el(
          'div',
          { class: 'stats' },
          el('div', {}, el('span', { text: 'Calls' }), el('b', { class: 'big', text: calls })),
          el('div', {}, el('span', { text: 'Denied' }), el('b', { class: 'big status-bad', text: denied })),
          el('div', {}, el('span', { text: 'Errors' }), el('b', { class: 'big', text: errors })),
        ),
        legend,
        el('p', {
          class: 'muted',
          'data-testid': 'chart-range',
          text: `${axisLabel(data.since)} – ${axisLabel(data.until)}`,
        }),
        stackedBars(agents.total, buckets, 180),
      ),
      el(
        'div',
        { class: 'panel' },
        el('h2', { text: 'By agent' }),
        agents.byKey.length ? multiples(agents) : el('p', { class: 'muted', text: 'No calls in this window.' }),
      ),
      el(
        'div',
        { class: 'panel' },
        el('h2', { text: 'By tool' }),
        tools.byKey.length ? multiples(tools) : el('p', { class: 'muted', text: 'No calls in this window.' }),
      ),
    );
  }

  // ---------- policy impact (read-only) ----------

  const IMPACT_RANGES = [
    ['24 hours', 24],
    ['7 days', 168],
    ['30 days', 720],
    ['everything', 0],
  ];
  const CHANGE_BADGE = {
    'newly-denied': 'deny',
    'newly-allowed': 'allow',
    'newly-needs-approval': 'pending',
    'no-longer-needs-approval': 'allow',
    'newly-rate-limited': 'pending',
    'no-longer-rate-limited': 'allow',
    'newly-hidden': 'deny',
    'newly-visible': 'allow',
  };
  // A list item's record says whether it was shown, not which rule decided: the old side is then that alone.
  const wasCell = (old) =>
    old.rule === undefined
      ? el('td', {}, badge(old.class, old.class), el('div', { class: 'muted', text: visible(old.reason) }))
      : el(
          'td',
          {},
          badge(old.class, old.class),
          ' ',
          el('span', { class: 'mono', text: visible(old.rule) }),
          el('div', { class: 'muted', text: visible(old.reason) }),
        );

  function impactReport(data) {
    const s = data.summary;
    const summary = el(
      'div',
      { class: 'panel', 'data-testid': 'impact-summary' },
      el('h2', { text: `Proposed policy ${data.policy.version}` }),
      kv([
        ['Evaluated', s.evaluated],
        ['Of which lists', s.lists],
        ['Unchanged', s.unchanged],
        ['Newly denied', s.newlyDenied],
        ['Newly allowed', s.newlyAllowed],
        ['Newly needing approval', s.newlyNeedsApproval],
        ['No longer needing approval', s.noLongerNeedsApproval],
        ['Rate limits', `${s.newlyRateLimited} newly limited, ${s.noLongerRateLimited} no longer limited`],
        ['Newly hidden from lists', s.newlyHidden],
        ['Newly shown in lists', s.newlyVisible],
        ['Lists changed', `${s.listsChanged} of ${s.lists}`],
        ['Partial', `${s.partial} (a constraint depended on what the record does not hold in full)`],
        ['Not replayed', `${data.notReplayed} (decided before any policy: expired credential or unknown name)`],
        ...(data.listsNotReplayed.noCatalog > 0
          ? [
              [
                'Lists not replayed',
                `${data.listsNotReplayed.noCatalog} (their catalog is no longer in the log: pruned)`,
              ],
            ]
          : []),
      ]),
    );
    if (s.changed === 0)
      return [
        summary,
        el('div', { class: 'panel empty', 'data-testid': 'impact-none', text: 'No decision would change.' }),
      ];
    const groups = data.groups.map((g) =>
      el(
        'div',
        { class: 'panel', 'data-testid': 'impact-group', 'data-rule': g.rule },
        el('h2', { text: `${visible(g.rule)} (${g.count})` }),
        el(
          'table',
          {},
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ['Record', 'Started', 'Agent', 'Request', 'Change', 'Was', 'Now'].map((h) => el('th', { text: h })),
            ),
          ),
          el(
            'tbody',
            {},
            g.changes.map((c) =>
              el(
                'tr',
                { 'data-testid': 'impact-change', 'data-id': c.id },
                el('td', {}, el('a', { href: `#/call/${encodeURIComponent(c.id)}`, class: 'mono', text: c.id })),
                el('td', { text: fmtTime(c.startedAt) }),
                el('td', { text: visible(c.subject) + (c.taskId ? ` (task ${visible(c.taskId)})` : '') }),
                el('td', { class: 'mono', text: `${c.method} ${visible(c.target)}` }),
                el(
                  'td',
                  {},
                  badge(data.labels[c.kind] || c.kind, CHANGE_BADGE[c.kind]),
                  c.partial
                    ? el('span', {
                        class: 'badge pending',
                        title: 'evaluated on incomplete data',
                        text: `partial: ${c.partial.join(', ')}`,
                      })
                    : null,
                ),
                wasCell(c.old),
                el(
                  'td',
                  {},
                  badge(c.new.class, c.new.class),
                  ' ',
                  el('span', { class: 'mono', text: visible(c.new.rule) }),
                  el('div', { class: 'muted', text: visible(c.new.reason) }),
                ),
              ),
            ),
          ),
        ),
        g.count > g.changes.length
          ? el('p', {
              class: 'muted',
              text: `… and ${g.count - g.changes.length} more (mcp-warden policy replay --json lists more)`,
            })
          : null,
      ),
    );
    return [summary, ...groups];
  }

  async function impactPage() {
    const text = el('textarea', {
      name: 'policy',
      rows: 14,
      spellcheck: 'false',
      'data-testid': 'impact-policy',
      placeholder: 'version: 1\nagents: …',
    });
    const file = el('input', { type: 'file', accept: '.yaml,.yml,.json', 'data-testid': 'impact-file' });
    file.addEventListener('change', async () => {
      if (file.files && file.files[0]) text.value = await file.files[0].text();
    });
    const range = el(
      'select',
      { name: 'range' },
      IMPACT_RANGES.map(([label, hours]) =>
        el('option', { value: String(hours), text: label, selected: hours === 168 }),
      ),
    );
    const results = el('div', { 'data-testid': 'impact-results' });
    const button = el('button', { type: 'submit', text: 'Replay', 'data-testid': 'impact-run' });
    const form = el(
      'form',
      { class: 'panel impact-form' },
      el('p', {
        class: 'muted',
        text: 'Paste a policy file or pick one: every recorded call and list in the range is decided again by it, offline, and the decisions that would change (and the list items it would hide or show) are listed. Read-only: nothing here changes the policy in force.',
      }),
      text,
      el(
        'div',
        { class: 'toolbar' },
        el('label', {}, 'Policy file ', file),
        el('label', {}, 'Requests of the last ', range),
        button,
      ),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      button.disabled = true;
      clear(results).appendChild(el('p', { class: 'muted', text: 'Replaying…' }));
      try {
        const hours = Number(range.value);
        const data = await post('/api/policy-impact', {
          policy: text.value,
          ...(hours > 0 && { since: Date.now() - hours * 3_600_000 }),
        });
        append(clear(results), impactReport(data));
      } catch (error) {
        clear(results).appendChild(errorBox(error));
      } finally {
        button.disabled = false;
      }
    });
    show(el('h1', { text: 'Policy impact' }), form, results);
  }

  // ---------- integrity ----------

  async function integrityPage(_args, params) {
    const data = await api(`/api/integrity${params.get('refresh') ? '?refresh=1' : ''}`);
    const r = data.report;
    const cp = data.checkpoint;
    show(
      el(
        'div',
        { class: 'toolbar' },
        el('h1', { text: 'Integrity of the audit log' }),
        el('button', {
          type: 'button',
          text: 'Verify again',
          onclick: () => (location.hash = `#/integrity?refresh=${Date.now()}`),
        }),
      ),
      el(
        'div',
        { class: 'panel', 'data-testid': 'verify' },
        el('div', {
          class: `big ${r.ok ? 'status-ok' : 'status-bad'}`,
          'data-testid': 'verify-result',
          text: r.ok ? '✓ Chain verified' : `✗ ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} found`,
        }),
        el('p', { class: 'muted', text: `Verified ${fmtTime(data.verifiedAt)}` }),
        kv([
          ['Entries', `${r.entries} (${dash(r.firstSeq)}–${dash(r.lastSeq)})`],
          ['Checkpoints', r.checkpoints],
          ['Signatures verified', r.signaturesVerified],
          ['Pruned before', r.anchor ? `entry ${r.anchor.seq}` : 'never pruned'],
        ]),
        r.problems.length
          ? el(
              'table',
              {},
              el(
                'tbody',
                {},
                r.problems.map((p) =>
                  el('tr', {}, el('td', {}, badge(p.kind, 'error')), el('td', { text: p.message })),
                ),
              ),
            )
          : null,
        r.warnings.length
          ? el(
              'ul',
              {},
              r.warnings.map((w) => el('li', { text: w })),
            )
          : null,
      ),
      el(
        'div',
        { class: 'panel', 'data-testid': 'checkpoint' },
        el('h2', { text: 'Latest signed checkpoint' }),
        cp
          ? kv([
              [
                'Signature',
                badge(
                  cp.signature && cp.signature.ok
                    ? 'valid'
                    : `invalid${cp.signature && cp.signature.reason ? `: ${cp.signature.reason}` : ''}`,
                  cp.signature && cp.signature.ok ? 'ok' : 'error',
                ),
              ],
              ['Covers entries', `up to #${cp.seq} (${cp.count} entries)`],
              [
                'After it',
                r.lastSeq !== null && r.lastSeq > cp.seq
                  ? `${r.lastSeq - cp.seq} entries, protected by the hash chain until the next checkpoint`
                  : 'none',
              ],
              ['Chain hash', el('span', { class: 'mono', text: cp.hash })],
              ['Signed', fmtTime(cp.ts)],
              ['Key', el('span', { class: 'mono', text: cp.kid })],
              ['Gateway instance', el('span', { class: 'mono', text: cp.instance })],
              ['JWS', el('span', { class: 'mono wrap', text: `${cp.jws.slice(0, 80)}…` })],
            ])
          : el('p', { class: 'muted', text: 'No checkpoint signed yet.' }),
      ),
    );
  }

  document.addEventListener('DOMContentLoaded', () => {
    boot().catch((error) => show(errorBox(error)));
  });
})();
